"""Admission control through the real app: an overloaded worker refuses new turns with 503 at once,
before the rate limiter, the database or the provider, and takes them again once it recovers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from proxy.app import create_app
from proxy.simulator import ServerThread
from proxy.turns.admission import RETRY_AFTER, Admission
from tests.support.admission import HandFedMonitor
from tests.support.apps import METRICS_AUTH, directory, make_settings, make_tenant, sse_events
from tests.support.scripted_engine import Engines, scripted_tools
from tests.support.waiting import eventually

SHOP = {"Origin": "https://shop.test", "X-Visitor-Id": "visitor-admission-1"}
ONE_MESSAGE_A_MINUTE = {
    "messages_per_minute_per_visitor": 1,
    "messages_per_minute_per_ip": 0,
    "messages_per_minute_per_tenant": 0,
    "threads_per_hour_per_ip": 0,
}


@pytest.fixture
def monitor() -> HandFedMonitor:
    return HandFedMonitor(0.2)


@pytest.fixture
async def client(
    pg_url: str, tmp_path: Path, engines: Engines, monitor: HandFedMonitor
) -> AsyncIterator[AsyncTestClient]:
    # one message a minute per visitor: a refused message that counted would use it up
    tenants = directory(make_tenant("shop", ["shop.test"], limits=ONE_MESSAGE_A_MINUTE))
    app = create_app(
        make_settings(pg_url, tmp_path),
        tenants=tenants,
        tools=scripted_tools(),
        engine_factory=engines.factory,
        admission=Admission(monitor),
    )
    async with AsyncTestClient(app, base_url="http://proxy.test") as test_client:
        yield test_client


def assert_overloaded(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER)
    error = response.json()["error"]
    assert error["code"] == "overloaded"
    assert error["reason"] == reason
    assert error["retry_after"] == RETRY_AFTER
    assert error["message"]


async def test_lagging_worker_refuses_new_turns_until_it_recovers(
    client: AsyncTestClient, engines: Engines, monitor: HandFedMonitor
) -> None:
    thread_id = (await client.post("/v1/threads", headers=SHOP)).json()["thread_id"]
    monitor.overload()

    for _ in range(2):
        refused = await client.post(f"/v1/threads/{thread_id}/messages", json={"content": "say:hi"}, headers=SHOP)
        assert_overloaded(refused, "loop_lag")
    legacy = await client.post(
        "/open-ai/process-message", json={"threadId": thread_id, "message": "say:hi"}, headers=SHOP
    )
    assert_overloaded(legacy, "loop_lag")

    # nothing was done for the refused turns: no provider call, no stored message, no lock
    assert engines["shop"].turns == []
    history = await client.get(f"/v1/threads/{thread_id}/messages", headers=SHOP)
    assert history.json()["messages"] == []
    services = client.app.state.services
    assert await services.threads.active_run(thread_id) is None
    metrics = (await client.get("/metrics", headers=METRICS_AUTH)).text
    assert 'proxy_turns_refused_total{reason="loop_lag"}' in metrics

    monitor.recover()
    # the thread takes a message at once, and the refusals did not count against the visitor's limit
    accepted = await client.post(f"/v1/threads/{thread_id}/messages", json={"content": "say:back"}, headers=SHOP)
    assert accepted.status_code == 200
    assert sse_events(accepted.text)[-1][0] == "done"
    assert [turn.user_text for turn in engines["shop"].turns] == ["say:back"]


async def test_validation_still_comes_first(client: AsyncTestClient, monitor: HandFedMonitor) -> None:
    thread_id = (await client.post("/v1/threads", headers=SHOP)).json()["thread_id"]
    monitor.overload()
    empty = await client.post(f"/v1/threads/{thread_id}/messages", json={"content": "  "}, headers=SHOP)
    assert empty.status_code == 400  # a request that could never succeed is not told to retry
    foreign = await client.post(
        f"/v1/threads/{thread_id}/messages", json={"content": "hi"}, headers={"Origin": "https://evil.test"}
    )
    assert foreign.status_code == 403


# -- the optional cap on running turns ----------------------------------------------------------------


@pytest.fixture(scope="module")
def capped_engines() -> Engines:
    return Engines()


@pytest.fixture(scope="module")
def capped(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory, capped_engines: Engines
) -> Iterator[tuple[ServerThread, Litestar]]:
    tenants = directory(make_tenant("shop", ["shop.test"]))
    settings = make_settings(pg_url, Path(tmp_path_factory.mktemp("capped")), max_active_turns=2)
    app = create_app(settings, tenants=tenants, tools=scripted_tools(), engine_factory=capped_engines.factory)
    with ServerThread(app) as running:
        yield running, app


async def test_the_cap_refuses_the_turn_over_it_and_admits_when_one_ends(
    capped: tuple[ServerThread, Litestar], capped_engines: Engines
) -> None:
    server, app = capped
    turns = app.state.services.turns
    engine = capped_engines["shop"]
    async with httpx.AsyncClient(base_url=server.url, headers=SHOP, timeout=10) as http:
        threads = [(await http.post("/v1/threads")).json()["thread_id"] for _ in range(3)]

        async def first_delta(lines: AsyncIterator[str]) -> None:
            async for line in lines:
                if line.startswith('data: {"message_id"'):
                    return

        try:
            async with (
                http.stream("POST", f"/v1/threads/{threads[0]}/messages", json={"content": "gate:a"}) as a,
                http.stream("POST", f"/v1/threads/{threads[1]}/messages", json={"content": "gate:b"}) as b,
            ):
                lines_a, lines_b = a.aiter_lines(), b.aiter_lines()
                await first_delta(lines_a)
                await first_delta(lines_b)
                assert turns.active == 2

                third = await http.post(f"/v1/threads/{threads[2]}/messages", json={"content": "say:third"})
                assert_overloaded(third, "max_active_turns")
                legacy = await http.post(
                    "/open-ai/process-message", json={"threadId": threads[2], "message": "say:third"}
                )
                assert_overloaded(legacy, "max_active_turns")
                assert len(engine.turns) == 2

                engine.gates["a"].set()
                rest = "\n".join([line async for line in lines_a])
                assert sse_events(rest + "\n\n")[-1][0] == "done"

                async def one_running() -> bool:
                    return turns.active == 1

                await eventually(one_running)
                admitted = await http.post(f"/v1/threads/{threads[2]}/messages", json={"content": "say:third"})
                assert admitted.status_code == 200
                assert sse_events(admitted.text)[-1][0] == "done"
                engine.gates["b"].set()
        finally:
            engine.gates["a"].set()
            engine.gates["b"].set()
