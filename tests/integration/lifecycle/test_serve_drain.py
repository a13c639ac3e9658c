"""SIGTERM under `python -m proxy serve` drains before the server stops: new turns get 503
``shutting_down``, running replies finish within ``PROXY_SHUTDOWN_GRACE`` or end with ``error``
(``shutting_down``, retryable) and ``done``, the partial reply is kept, and the exit status is 0."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.simulator import SimulatorServer
from proxy.store.db import Database
from proxy.store.threads import ThreadStore
from tests.support.apps import sse_events
from tests.support.ports import free_port
from tests.support.processes import ProxyProcess
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

TENANTS = """
[tenants.drain]
domains = ["drain.test"]
engine = "chat"
api_key_env = "DRAIN_KEY"
base_url = "{base_url}"
"""
ORIGIN = {"Origin": "https://drain.test"}
ENDLESS = "[[pace:ttft=0,gap=40,tokens=5000]] tell me everything"  # minutes of reply
SHORT = "[[pace:ttft=0,gap=60,tokens=30]] tell me a little"  # about two seconds


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer() as sim:
        yield sim


StartServe = Callable[..., tuple[ProxyProcess, str]]


@pytest.fixture
def start_serve(pg_url: str, simulator: SimulatorServer, tmp_path: Path) -> Iterator[StartServe]:
    """Start `serve` with a given ``PROXY_SHUTDOWN_GRACE`` and wait until it is ready."""
    (tmp_path / "tenants.toml").write_text(TENANTS.format(base_url=simulator.base_url))
    started: list[ProxyProcess] = []

    def start(grace: float, workers: int = 1) -> tuple[ProxyProcess, str]:
        port = free_port()
        env = {
            "PROXY_TENANTS_FILE": str(tmp_path / "tenants.toml"),
            "PROXY_DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": pg_url,
            "DRAIN_KEY": "sk-drain",
            "PROXY_SHUTDOWN_GRACE": str(grace),
            "PROXY_LOG_LEVEL": "info",
        }
        argv = ["serve", "--port", str(port), "--workers", str(workers)]
        process = ProxyProcess(argv, env=env, cwd=tmp_path, name=f"serve-{port}")
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        process.wait_ready(url)
        return process, url

    yield start
    for process in started:
        process.kill()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


class OpenReply:
    """A reply being streamed: its thread, and the lines read so far."""

    def __init__(self, thread_id: str, response: httpx.Response) -> None:
        self.thread_id = thread_id
        self.response = response
        self.lines = response.aiter_lines()
        self.read: list[str] = []

    async def until_first_delta(self) -> None:
        async for line in self.lines:
            self.read.append(line)
            if line.startswith("event: message.delta"):
                return

    async def to_the_end(self) -> list[tuple[str, dict[str, Any], str | None]]:
        self.read += [line async for line in self.lines]
        await self.response.aclose()
        return sse_events("\n".join(self.read) + "\n")


async def open_reply(client: httpx.AsyncClient, url: str, content: str) -> OpenReply:
    """Post a message and read its stream up to the first delta; the response stays open."""
    thread_id = (await client.post(f"{url}/v1/threads", headers=ORIGIN)).json()["thread_id"]
    messages = f"{url}/v1/threads/{thread_id}/messages"
    response = await client.send(
        client.build_request("POST", messages, json={"content": content}, headers=ORIGIN), stream=True
    )
    assert response.status_code == 200
    reply = OpenReply(thread_id, response)
    await reply.until_first_delta()
    return reply


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_ends_a_long_reply_with_shutting_down_and_done(
    start_serve: StartServe, client: httpx.AsyncClient, database: Database, workers: int
) -> None:
    process, url = start_serve(2, workers)
    reply = await open_reply(client, url, ENDLESS)

    process.signal(signal.SIGTERM)
    # while it drains, new turns are refused with 503 shutting_down (and readiness says so)
    await eventually(lambda: _not_ready(client, url), timeout=20)
    other = (await client.post(f"{url}/v1/threads", headers=ORIGIN)).json()["thread_id"]
    refused = await client.post(f"{url}/v1/threads/{other}/messages", json={"content": "hello"}, headers=ORIGIN)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "shutting_down"
    assert int(refused.headers["retry-after"]) > 0

    events = await reply.to_the_end()
    names = [name for name, _, _ in events]
    assert names[-2:] == ["error", "done"], names[-5:]
    assert events[-2][1] == {"code": "shutting_down", "message": events[-2][1]["message"], "retryable": True}
    assert "run.completed" not in names
    assert process.wait() == 0

    # the part of the reply that was streamed is in the history
    streamed = "".join(str(data["delta"]) for name, data, _ in events if name == "message.delta")
    history = await ThreadStore(database).history(reply.thread_id, limit=10)
    assert [m.role for m in history] == ["user", "assistant"]
    assert history[-1].content.strip() == streamed.strip() != ""


async def test_sigterm_lets_a_reply_finish_within_the_bound(start_serve: StartServe, client: httpx.AsyncClient) -> None:
    process, url = start_serve(60)
    reply = await open_reply(client, url, SHORT)

    process.signal(signal.SIGTERM)
    events = await reply.to_the_end()
    names = [name for name, _, _ in events]
    assert names[-2:] == ["run.completed", "done"]
    assert "error" not in names
    assert process.wait() == 0


async def _not_ready(client: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await client.get(f"{url}/readyz")).status_code == 503
    except httpx.HTTPError:
        return False
