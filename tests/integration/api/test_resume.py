"""Resuming a reply after a lost connection, on the same worker and on another one.

Two app instances on one database stand for two workers (or two machines behind a balancer).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from proxy.app import create_app
from proxy.simulator import ServerThread
from tests.support.apps import directory, make_settings, make_tenant, sse_events
from tests.support.scripted_engine import Engines, scripted_tools
from tests.support.waiting import eventually

SHOP = {"Origin": "https://shop.test", "X-Visitor-Id": "visitor-resume-1"}


@pytest.fixture(scope="module")
def engines() -> Engines:
    return Engines()


def worker(pg_url: str, data_dir: Path, engines: Engines) -> ServerThread:
    tenants = directory(make_tenant("shop", ["shop.test"]))
    settings = make_settings(pg_url, data_dir, disconnect_grace=1.0, heartbeat_interval=0.3)
    return ServerThread(create_app(settings, tenants=tenants, tools=scripted_tools(), engine_factory=engines.factory))


@pytest.fixture(scope="module")
def workers(pg_url: str, tmp_path_factory: pytest.TempPathFactory, engines: Engines) -> Iterator[list[ServerThread]]:
    first = worker(pg_url, Path(tmp_path_factory.mktemp("w1")), engines).start()
    # the second worker's engine is built after the first's: keep the first one's for the gates
    gates = engines["shop"]
    second = worker(pg_url, Path(tmp_path_factory.mktemp("w2")), engines).start()
    engines["shop"] = gates
    yield [first, second]
    first.stop()
    second.stop()


@pytest.fixture
async def clients(workers: list[ServerThread]) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with (
        httpx.AsyncClient(base_url=workers[0].url, headers=SHOP, timeout=10) as a,
        httpx.AsyncClient(base_url=workers[1].url, headers=SHOP, timeout=10) as b,
    ):
        yield [a, b]


async def start_and_drop(client: httpx.AsyncClient, content: str) -> tuple[str, str, str]:
    """Post a message, read until the first delta, then drop the connection."""
    thread_id = (await client.post("/v1/threads")).json()["thread_id"]
    last_id = None
    async with client.stream("POST", f"/v1/threads/{thread_id}/messages", json={"content": content}) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("id: "):
                last_id = line[4:]
            if line.startswith("event: message.delta"):
                break
    assert last_id is not None
    return thread_id, last_id.split(":")[0], last_id


async def resume(client: httpx.AsyncClient, thread_id: str, run_id: str, last_id: str) -> list:
    url = f"/v1/threads/{thread_id}/runs/{run_id}/events"
    response = await client.get(url, headers={"Last-Event-ID": last_id})
    assert response.status_code == 200, response.text
    return sse_events(response.text)


@pytest.mark.parametrize("resume_on", [0, 1], ids=["same-worker", "other-worker"])
async def test_reconnect_gets_exactly_the_missing_events(
    clients: list[httpx.AsyncClient], engines: Engines, resume_on: int
) -> None:
    key = f"resume-{resume_on}"
    thread_id, run_id, last_id = await start_and_drop(clients[0], f"gate:{key}")
    seen_seq = int(last_id.split(":")[1])
    engines["shop"].gates[key].set()
    events = await resume(clients[resume_on], thread_id, run_id, last_id)
    ids = [int(event_id.split(":")[1]) for _, _, event_id in events]
    assert ids == list(range(seen_seq + 1, seen_seq + 1 + len(ids)))  # no gap, no repeat
    assert [name for name, _, _ in events] == ["message.delta", "message.completed", "run.completed", "done"]
    assert events[0][1]["delta"] == "after"


async def test_resume_with_query_parameters_for_eventsource(clients: list[httpx.AsyncClient], engines: Engines) -> None:
    thread_id, run_id, last_id = await start_and_drop(clients[0], "gate:query")
    engines["shop"].gates["query"].set()
    url = f"/v1/threads/{thread_id}/runs/{run_id}/events"
    response = await clients[1].get(
        url, params={"last_event_id": last_id, "visitor_id": "visitor-resume-1"}, headers={"X-Visitor-Id": ""}
    )
    assert [name for name, _, _ in sse_events(response.text)][-1] == "done"


async def test_nobody_returns_so_the_run_is_cancelled(clients: list[httpx.AsyncClient], engines: Engines) -> None:
    thread_id, run_id, _ = await start_and_drop(clients[0], "gate:abandoned")

    async def cancelled() -> bool:
        return run_id in engines["shop"].cancelled

    await eventually(cancelled)

    async def partial_reply_saved() -> bool:
        history = (await clients[0].get(f"/v1/threads/{thread_id}/messages")).json()["messages"]
        return history[-1] == {**history[-1], "role": "assistant", "content": "before "}

    await eventually(partial_reply_saved)
    engines["shop"].gates["abandoned"].set()  # frees the worker thread the cancelled wait left behind


async def test_resume_checks_ownership_and_ids(clients: list[httpx.AsyncClient], engines: Engines) -> None:
    thread_id, run_id, last_id = await start_and_drop(clients[0], "gate:owner")
    url = f"/v1/threads/{thread_id}/runs/{run_id}/events"
    other = await clients[1].get(url, headers={"Last-Event-ID": last_id, "X-Visitor-Id": "visitor-someone-else"})
    assert other.status_code == 404
    foreign = await clients[1].get(url, headers={"Last-Event-ID": "run_other:3"})
    assert foreign.status_code == 400
    unknown = await clients[1].get(f"/v1/threads/{thread_id}/runs/run_unknown/events")
    assert unknown.status_code == 404
    engines["shop"].gates["owner"].set()


async def test_a_quiet_resume_on_another_worker_sends_heartbeat_comments(
    clients: list[httpx.AsyncClient], engines: Engines
) -> None:
    """While the run is quiet, the resumed stream carries the same ``: ping`` comments as a live one
    (a comment, which EventSource ignores, not a message)."""
    thread_id, run_id, last_id = await start_and_drop(clients[0], "gate:quiet")
    url = f"/v1/threads/{thread_id}/runs/{run_id}/events"
    lines: list[str] = []
    async with clients[1].stream("GET", url, headers={"Last-Event-ID": last_id}) as stream:
        async for line in stream.aiter_lines():
            lines.append(line)
            if "ping" in line:
                engines["shop"].gates["quiet"].set()  # the stream ends after the run's `done`
    pings = [line for line in lines if "ping" in line]
    assert pings and all(line == ": ping" for line in pings)
    assert [name for name, _, _ in sse_events("\n".join(lines) + "\n\n")][-1] == "done"
