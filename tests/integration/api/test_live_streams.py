"""Behaviour that needs a real server and real connections: busy threads, Stop, disconnects,
heartbeats, and many chats at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from proxy.app import create_app
from proxy.simulator import ServerThread
from tests.support.apps import directory, make_settings, make_tenant, sse_events
from tests.support.scripted_engine import Engines, scripted_tools
from tests.support.waiting import eventually

SHOP = {"Origin": "https://shop.test"}


@pytest.fixture(scope="module")
def live_engines() -> Engines:
    return Engines()


@pytest.fixture(scope="module")
def server(pg_url: str, tmp_path_factory: pytest.TempPathFactory, live_engines: Engines) -> Iterator[ServerThread]:
    tenants = directory(make_tenant("shop", ["shop.test"], tools=["lookup"]))
    settings = make_settings(pg_url, Path(tmp_path_factory.mktemp("live")), heartbeat_interval=0.2, disconnect_grace=0)
    app = create_app(settings, tenants=tenants, tools=scripted_tools(), engine_factory=live_engines.factory)
    with ServerThread(app) as running:
        yield running


@pytest.fixture
async def http(server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, headers=SHOP, timeout=10) as client:
        yield client


async def new_thread(http: httpx.AsyncClient) -> str:
    return (await http.post("/v1/threads")).json()["thread_id"]


async def read_until(lines: AsyncIterator[str], wanted: str) -> list[str]:
    seen = []
    async for line in lines:
        seen.append(line)
        if line.startswith(wanted):
            return seen
    raise AssertionError(f"stream ended before {wanted!r}: {seen}")


async def history(http: httpx.AsyncClient, thread_id: str) -> list[dict]:
    return (await http.get(f"/v1/threads/{thread_id}/messages")).json()["messages"]


async def test_second_message_while_running_is_409_then_stop_cancels(
    http: httpx.AsyncClient, live_engines: Engines
) -> None:
    thread_id = await new_thread(http)
    async with http.stream("POST", f"/v1/threads/{thread_id}/messages", json={"content": "wait"}) as stream:
        lines = stream.aiter_lines()
        seen = await read_until(lines, 'data: {"message_id"')
        run_id = next(line for line in seen if line.startswith("id: ")).split(" ")[1].split(":")[0]

        busy = await http.post(f"/v1/threads/{thread_id}/messages", json={"content": "say:hi"})
        assert busy.status_code == 409
        assert busy.json()["error"]["code"] == "thread_busy"

        cancel = await http.post(f"/v1/threads/{thread_id}/runs/{run_id}/cancel")
        assert cancel.status_code == 202
        rest = "\n".join([line async for line in lines])
    events = sse_events(rest + "\n\n")
    assert [name for name, _, _ in events][-2:] == ["error", "done"]
    assert events[-2][1]["code"] == "cancelled"
    assert run_id in live_engines["shop"].cancelled  # the engine was told to stop the provider's run
    assert (await history(http, thread_id))[-1]["content"] == "partial "
    again = await http.post(f"/v1/threads/{thread_id}/messages", json={"content": "say:after"})
    assert sse_events(again.text)[-1][0] == "done"


async def test_cancel_unknown_run_is_404(http: httpx.AsyncClient) -> None:
    thread_id = await new_thread(http)
    response = await http.post(f"/v1/threads/{thread_id}/runs/run_nope/cancel")
    assert response.status_code == 404


async def test_disconnect_cancels_the_turn_and_frees_the_thread(http: httpx.AsyncClient, live_engines: Engines) -> None:
    thread_id = await new_thread(http)
    async with http.stream("POST", f"/v1/threads/{thread_id}/messages", json={"content": "wait"}) as stream:
        seen = await read_until(stream.aiter_lines(), 'data: {"message_id"')
    run_id = next(line for line in seen if line.startswith("id: ")).split(" ")[1].split(":")[0]

    async def cancelled() -> bool:
        return run_id in live_engines["shop"].cancelled

    await eventually(cancelled)

    async def released() -> bool:
        messages = await history(http, thread_id)
        return messages[-1]["role"] == "assistant"

    await eventually(released)
    after = await http.post(f"/v1/threads/{thread_id}/messages", json={"content": "say:back"})
    assert after.status_code == 200


async def test_idle_stream_gets_heartbeat_comments(http: httpx.AsyncClient) -> None:
    thread_id = await new_thread(http)
    async with http.stream("POST", f"/v1/threads/{thread_id}/messages", json={"content": "wait"}) as stream:
        lines = stream.aiter_lines()
        await read_until(lines, 'data: {"message_id"')
        await read_until(lines, ": ping")


async def test_concurrent_chats_never_see_each_others_text(http: httpx.AsyncClient) -> None:
    results: dict[int, str] = {}

    async def chat(i: int) -> None:
        thread_id = await new_thread(http)
        words = " ".join(f"c{i}w{j}" for j in range(30))
        response = await http.post(f"/v1/threads/{thread_id}/messages", json={"content": f"say:{words}"})
        events = sse_events(response.text)
        results[i] = "".join(d["delta"] for n, d, _ in events if n == "message.delta")
        assert events[-1][0] == "done"

    async with anyio.create_task_group() as group:
        for i in range(25):
            group.start_soon(chat, i)
    for i, text in results.items():
        assert text == " ".join(f"c{i}w{j}" for j in range(30))
