"""A worker killed with -9 in the middle of a reply: another worker frees the thread within a
turn lease (not the turn timeout), with the partial reply kept in the history; the dead run's
resume and Stop answer at once instead of hanging on a lock nobody renews."""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from proxy.simulator import SimulatorServer
from proxy.store.db import Database
from tests.support.apps import sse_events
from tests.support.ports import free_port
from tests.support.processes import ProxyProcess, proxy_process
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

TENANTS = """
[tenants.crash]
domains = ["crash.test"]
engine = "chat"
api_key_env = "CRASH_KEY"
base_url = "{base_url}"
"""
ORIGIN = {"Origin": "https://crash.test", "X-Visitor-Id": "visitor-crash-1"}
ENDLESS = "[[pace:ttft=0,gap=40,tokens=5000]] tell me everything"
LEASE = 3.0  # PROXY_TURN_LEASE for the test; the product's default is 15 s


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer() as sim:
        yield sim


@pytest.fixture(scope="module")
def folder(pg_url: str, simulator: SimulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workers' working folder, with their tenants file."""
    path = tmp_path_factory.mktemp("worker-killed")
    (path / "tenants.toml").write_text(TENANTS.format(base_url=simulator.base_url))
    return path


def worker_env(pg_url: str, folder: Path) -> dict[str, str]:
    return {
        "PROXY_TENANTS_FILE": str(folder / "tenants.toml"),
        "PROXY_DATA_DIR": str(folder / "data"),
        "DATABASE_URL": pg_url,
        "CRASH_KEY": "sk-crash",
        "PROXY_TURN_LEASE": str(LEASE),
        "PROXY_LOG_LEVEL": "info",
    }


@pytest.fixture(scope="module")
def survivor(pg_url: str, folder: Path) -> Iterator[tuple[ProxyProcess, str]]:
    """The worker that lives on: one for the module, since each test kills only its doomed one."""
    port = free_port()
    with proxy_process(
        ["serve", "--port", str(port)], env=worker_env(pg_url, folder), cwd=folder, name="survivor"
    ) as process:
        url = f"http://127.0.0.1:{port}"
        process.wait_ready(url)
        yield process, url


@pytest.fixture
def workers(pg_url: str, folder: Path, survivor: tuple[ProxyProcess, str]) -> Iterator[list[tuple[ProxyProcess, str]]]:
    """A worker of this test's, to be killed, and the survivor."""
    port = free_port()
    with proxy_process(
        ["serve", "--port", str(port)], env=worker_env(pg_url, folder), cwd=folder, name=f"doomed-{port}"
    ) as doomed:
        url = f"http://127.0.0.1:{port}"
        doomed.wait_ready(url)
        yield [(doomed, url), survivor]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30, headers=ORIGIN) as client:
        yield client


async def test_a_killed_workers_thread_is_freed_with_its_partial_reply(
    workers: list[tuple[ProxyProcess, str]],
    client: httpx.AsyncClient,
    database: Database,
    simulator: SimulatorServer,
) -> None:
    (doomed, doomed_url), (_, survivor) = workers
    thread_id = (await client.post(f"{doomed_url}/v1/threads")).json()["thread_id"]
    messages = f"/v1/threads/{thread_id}/messages"

    streamed: list[str] = []
    run_id = ""
    seen_draft = ""
    async with client.stream("POST", f"{doomed_url}{messages}", json={"content": ENDLESS}) as response:
        lines = response.aiter_lines()
        event = None
        async for line in lines:
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "run.started":
                run_id = _json(line)["run_id"]
            elif line.startswith("data: ") and event == "message.delta":
                streamed.append(_json(line)["delta"])
                seen_draft = await _draft(database, thread_id)
                if seen_draft:  # its worker has saved part of the reply
                    break
        doomed.signal(signal.SIGKILL)
        doomed.wait()

    # on the survivor: the thread is free again within a lease or two, not after the turn timeout
    async def sent() -> httpx.Response | None:
        answer = await client.post(f"{survivor}{messages}", json={"content": "[[reply:Here again.]] hello?"})
        return answer if answer.status_code != 409 else None

    answer = await eventually(sent, timeout=LEASE * 5, interval=0.2)
    assert answer.status_code == 200
    assert [name for name, _, _ in sse_events(answer.text)][-2:] == ["run.completed", "done"]

    history = (await client.get(f"{survivor}{messages}")).json()["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    # the reply up to its last renewal is kept: at least what was saved when the client stopped
    # reading (the worker may renew once more before the kill lands), and nothing but the reply
    partial = history[1]["content"]
    whole = await _whole_reply(simulator)
    assert partial.startswith(seen_draft)
    assert whole.startswith(partial) and whole.startswith("".join(streamed))
    assert history[3]["content"] == "Here again."

    # the dead run is neither resumable (it was never saved for resuming) nor stoppable any more
    resumed = await client.get(f"{survivor}/v1/threads/{thread_id}/runs/{run_id}/events?last_event_id={run_id}:2")
    assert resumed.status_code == 404
    assert resumed.json()["error"]["code"] == "run_not_found"
    stopped = await client.post(f"{survivor}/v1/threads/{thread_id}/runs/{run_id}/cancel")
    assert stopped.status_code == 404
    assert (await client.delete(f"{survivor}/v1/threads/{thread_id}")).status_code == 204


async def _draft(database: Database, thread_id: str) -> str:
    row = await database.fetch_one("select draft from threads where id = %s", (thread_id,))
    return str(row["draft"] or "") if row else ""


async def _whole_reply(simulator: SimulatorServer) -> str:
    """The whole reply the endless turn was streaming: the simulator's reply is a function of the
    message, so the same message unpaced gives it at once."""
    unpaced = ENDLESS.replace("gap=40", "gap=0")
    provider = openai.AsyncOpenAI(base_url=simulator.base_url, api_key="sk-crash")
    reply = await provider.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": unpaced}])
    return reply.choices[0].message.content or ""


def _json(line: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(line[6:])
    return data


async def test_a_resumed_stream_of_a_killed_worker_ends_with_interrupted_and_done(
    workers: list[tuple[ProxyProcess, str]], client: httpx.AsyncClient, database: Database
) -> None:
    (doomed, doomed_url), (_, survivor) = workers
    thread_id = (await client.post(f"{doomed_url}/v1/threads")).json()["thread_id"]
    run_id = ""
    async with client.stream("POST", f"{doomed_url}/v1/threads/{thread_id}/messages", json={"content": ENDLESS}) as r:
        event = None
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "run.started":
                run_id = _json(line)["run_id"]
            elif event == "message.delta":
                break  # the visitor's connection drops here: the worker starts saving the run's events

    async def saved() -> bool:
        row = await database.fetch_one("select count(*) as n from run_events where run_id = %s", (run_id,))
        return bool(row and row["n"] > 2)

    await eventually(saved, timeout=30)
    doomed.signal(signal.SIGKILL)
    doomed.wait()

    # the visitor comes back on the other worker: what was saved, then a proper end
    resumed = await client.get(
        f"{survivor}/v1/threads/{thread_id}/runs/{run_id}/events", headers={"Last-Event-ID": f"{run_id}:1"}
    )
    events = sse_events(resumed.text)
    assert [name for name, _, _ in events][-2:] == ["error", "done"]
    assert events[-2][1]["code"] == "interrupted" and events[-2][1]["retryable"] is True
    assert any(name == "message.delta" for name, _, _ in events)
