"""Rate limits through the real routes: 429 with Retry-After, and X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from proxy.app import create_app
from proxy.limits.settings import LimitSettings
from proxy.simulator import ServerThread
from tests.support.apps import directory, make_settings, make_tenant, sse_events
from tests.support.scripted_engine import Engines, scripted_tools

LIMITS = {
    "messages_per_minute_per_visitor": 2,
    "messages_per_minute_per_ip": 3,
    "messages_per_minute_per_tenant": 0,
    "threads_per_hour_per_ip": 4,
}


def build_app(pg_url: str, tmp_path: Path, name: str, trusted: str = "", **limits: Any):  # type: ignore[no-untyped-def]
    tenants = directory(make_tenant(name, [f"{name}.test"], limits={**LIMITS, **limits}, client_keys=(f"ck_{name}",)))
    settings = make_settings(pg_url, tmp_path)
    limit_settings = LimitSettings(_env_file=None, trusted_proxies=trusted)  # type: ignore[call-arg]  # memory
    return create_app(
        settings,
        tenants=tenants,
        tools=scripted_tools(),
        engine_factory=Engines().factory,
        limit_settings=limit_settings,
    )


@pytest.fixture
def name() -> str:
    return f"rl{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def client(pg_url: str, tmp_path: Path, name: str) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(build_app(pg_url, tmp_path, name), base_url="http://proxy.test") as test_client:
        yield test_client


def site(name: str, **extra: str) -> dict[str, str]:
    return {"Origin": f"https://{name}.test", **extra}


async def test_visitor_over_the_limit_gets_429_with_retry_after(client: AsyncTestClient, name: str) -> None:
    headers = site(name, **{"X-Visitor-Id": "visitor-fast-1"})
    thread_id = (await client.post("/v1/threads", headers=headers)).json()["thread_id"]
    for _ in range(2):
        ok = await client.post(f"/v1/threads/{thread_id}/messages", json={"content": "say:hi"}, headers=headers)
        assert sse_events(ok.text)[-1][0] == "done"
    refused = await client.post(f"/v1/threads/{thread_id}/messages", json={"content": "say:hi"}, headers=headers)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limited" and error["scope"] == "visitor"
    assert error["retry_after"] >= 1 and error["message"]
    assert refused.headers["retry-after"] == str(error["retry_after"])
    assert refused.headers["access-control-allow-origin"] == f"https://{name}.test"  # readable by the widget
    assert "retry-after" in refused.headers["access-control-expose-headers"].lower()


async def test_spoofed_forwarded_for_does_not_evade_the_ip_limit(client: AsyncTestClient, name: str) -> None:
    thread_id = (await client.post("/v1/threads", headers=site(name))).json()["thread_id"]
    statuses = []
    for i in range(5):  # a new visitor id and a new "address" every time, all from one peer
        headers = site(name, **{"X-Visitor-Id": f"visitor-spoof-{i}", "X-Forwarded-For": f"198.51.100.{i}"})
        response = await client.post(f"/v1/threads/{thread_id}/messages", json={"content": "say:x"}, headers=headers)
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429, 429]


async def test_thread_creation_is_limited_per_ip(client: AsyncTestClient, name: str) -> None:
    statuses = [(await client.post("/v1/threads", headers=site(name))).status_code for _ in range(5)]
    assert statuses == [201, 201, 201, 201, 429]
    # a server-side client with its key is not counted per address
    keyed = await client.post("/v1/threads", headers={"Authorization": f"Bearer ck_{name}"})
    assert keyed.status_code == 201


# -- behind a reverse proxy: a real server, so the peer address is real ----------------------------


@pytest.fixture
def proxied_server(pg_url: str, tmp_path: Path, name: str) -> Iterator[ServerThread]:
    app = build_app(pg_url, tmp_path, name, trusted="127.0.0.1/32, ::1", messages_per_minute_per_visitor=0)
    # the app reads X-Forwarded-For itself; uvicorn must not rewrite the peer first
    with ServerThread(app, proxy_headers=False) as server:
        yield server


async def test_trusted_proxy_forwarded_addresses_are_counted_apart(proxied_server: ServerThread, name: str) -> None:
    async with httpx.AsyncClient(base_url=proxied_server.url, headers=site(name), timeout=10) as http:
        thread_id = (await http.post("/v1/threads")).json()["thread_id"]

        async def send(xff: str) -> int:
            response = await http.post(
                f"/v1/threads/{thread_id}/messages", json={"content": "say:x"}, headers={"X-Forwarded-For": xff}
            )
            return response.status_code

        # three clients behind our proxy, each with its own allowance of 3
        assert [await send("203.0.113.1") for _ in range(3)] == [200, 200, 200]
        assert await send("203.0.113.1") == 429
        assert await send("203.0.113.2") == 200
        # a client prepending a fake address is still counted under the address our proxy saw
        assert await send("9.9.9.9, 203.0.113.1") == 429
