"""With Postgres down, API calls answer 503 ``database_unavailable`` with ``Retry-After`` within
``PROXY_DB_REQUEST_TIMEOUT`` (not a 500 after the pool's 30 s wait), and recover when it is back.

The service runs on a Postgres of its own here, which the test stops (fast shutdown) and starts."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from proxy.app import create_app
from proxy.simulator import ServerThread
from proxy.store import embedded
from tests.support.apps import directory, make_settings, make_tenant
from tests.support.processes import server_folder, wait_no_postgres
from tests.support.scripted_engine import Engines, scripted_tools
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

SHOP = {"Origin": "https://down.test"}
BOUND = 20.0  # seconds a client waits: well under the pool's default wait of 30 s


@pytest.fixture(scope="module")
def pgdata() -> Iterator[Path]:
    with server_folder("proxy-down-") as folder:
        pgdata = folder / "data" / "postgres"
        with embedded.running(pgdata):
            yield pgdata


@pytest.fixture(scope="module")
def server(pgdata: Path) -> Iterator[ServerThread]:
    uri = embedded.acquire(pgdata)  # the URI; the module's hold keeps the server
    embedded.release(pgdata)
    tenants = directory(make_tenant("down", ["down.test"], tools=["lookup"]))
    settings = make_settings(uri, pgdata.parent, db_request_timeout=1)  # each 503 waits it out
    app = create_app(settings, tenants=tenants, tools=scripted_tools(), engine_factory=Engines().factory)
    with ServerThread(app) as running:
        yield running


@pytest.fixture
async def http(server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, headers=SHOP, timeout=BOUND) as client:
        yield client


def stop_postgres(pgdata: Path) -> None:
    pid = embedded.postmaster_pid(pgdata)
    assert pid is not None
    os.kill(pid, signal.SIGINT)  # fast shutdown: sessions are cut, as when the database goes away
    wait_no_postgres(pgdata)


async def test_requests_answer_503_promptly_while_postgres_is_down(http: httpx.AsyncClient, pgdata: Path) -> None:
    thread_id = (await http.post("/v1/threads")).json()["thread_id"]
    stop_postgres(pgdata)
    try:
        # a pooled connection that broke, then no connection at all: both are a prompt 503
        for _ in range(2):
            for response in (
                await http.get(f"/v1/threads/{thread_id}/messages"),
                await http.post("/v1/threads"),
                await http.post(f"/v1/threads/{thread_id}/messages", json={"content": "hello"}),
            ):
                assert response.status_code == 503, response.text
                assert response.json()["error"]["code"] == "database_unavailable"
                assert int(response.headers["retry-after"]) > 0
        assert (await http.get("/readyz")).status_code == 503
    finally:
        embedded.release(pgdata)  # the module's hold: the server is down, nothing to stop
        embedded.acquire(pgdata)  # and up again, for the rest of the module

    async def created() -> bool:
        return (await http.post("/v1/threads")).status_code == 201

    await eventually(created, timeout=BOUND)
    history = await http.get(f"/v1/threads/{thread_id}/messages")
    assert history.status_code == 200
