"""Two `python -m proxy serve` processes sharing only Postgres and Redis, as behind a load balancer:
rate limits, thread locks and resumed streams hold across them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from proxy.simulator import SimulatorConfig, SimulatorServer
from tests.support.apps import sse_events
from tests.support.processes import serve_instances
from tests.support.redis_server import redis_binary, running_redis
from tests.support.waiting import eventually

TENANTS = """
[tenants.limited]
domains = ["limited.test"]
engine = "chat"
api_key_env = "SCALE_KEY"
base_url = "{base_url}"
limits = {{ threads_per_hour_per_ip = 3, messages_per_minute_per_ip = 0, messages_per_minute_per_visitor = 0 }}

[tenants.open]
domains = ["open.test"]
engine = "chat"
api_key_env = "SCALE_KEY"
base_url = "{base_url}"
limits = {{ threads_per_hour_per_ip = 0, messages_per_minute_per_ip = 0, messages_per_minute_per_visitor = 0 }}
"""
PACED = "[[pace:ttft=0,gap=150,tokens=20]] tell me a story"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(model="echo")) as sim:
        yield sim


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    if redis_binary() is None:
        pytest.skip("redis-server binary not found (apt-get install redis-server)")
    with running_redis() as url:
        yield url


@pytest.fixture(scope="module")
def instances(
    pg_url: str, redis_url: str, simulator: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    folder = Path(tmp_path_factory.mktemp("scaleout"))
    tenants = folder / "tenants.toml"
    tenants.write_text(TENANTS.format(base_url=simulator.base_url))
    env = {
        **os.environ,
        "PROXY_TENANTS_FILE": str(tenants),
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "SCALE_KEY": "sk-scale",
        "PROXY_DATA_DIR": str(folder),
        "PROXY_DISCONNECT_GRACE": "5",
        "PROXY_SHUTDOWN_GRACE": "1",  # the module's end: nothing to drain for
        "PROXY_LOG_FORMAT": "text",
        "PROXY_LOG_LEVEL": "warning",
        "PROXY_MAX_LOOP_LAG": "0",  # a busy test machine is not an overloaded worker
        "PROXY_MAX_CPU_BUSY": "0",
    }
    with serve_instances(env, folder) as urls:
        yield urls


@pytest.fixture
async def clients(instances: list[str]) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with (
        httpx.AsyncClient(base_url=instances[0], timeout=20) as a,
        httpx.AsyncClient(base_url=instances[1], timeout=20) as b,
    ):
        yield [a, b]


async def test_rate_limit_is_shared(clients: list[httpx.AsyncClient]) -> None:
    origin = {"Origin": "https://limited.test"}
    statuses = [(await clients[i % 2].post("/v1/threads", headers=origin)).status_code for i in range(4)]
    assert statuses == [201, 201, 201, 429]
    refused = await clients[1].post("/v1/threads", headers=origin)
    assert refused.status_code == 429
    assert refused.json()["error"]["scope"] == "ip"
    assert int(refused.headers["retry-after"]) > 0


async def test_thread_lock_is_shared(clients: list[httpx.AsyncClient]) -> None:
    origin = {"Origin": "https://open.test"}
    thread_id = (await clients[0].post("/v1/threads", headers=origin)).json()["thread_id"]
    url = f"/v1/threads/{thread_id}/messages"
    async with clients[0].stream("POST", url, json={"content": PACED}, headers=origin) as stream:
        lines = stream.aiter_lines()
        async for line in lines:
            if line.startswith("event: message.delta"):
                break
        busy = await clients[1].post(url, json={"content": "hello"}, headers=origin)
        assert busy.status_code == 409
        assert busy.json()["error"]["code"] == "thread_busy"
        rest = [line async for line in lines]
    assert "event: done" in rest


async def test_stream_resumes_on_the_other_instance(clients: list[httpx.AsyncClient]) -> None:
    origin = {"Origin": "https://open.test", "X-Visitor-Id": "visitor-scaleout-1"}
    thread_id = (await clients[0].post("/v1/threads", headers=origin)).json()["thread_id"]
    seen: list[str] = []
    async with clients[0].stream(
        "POST", f"/v1/threads/{thread_id}/messages", json={"content": PACED}, headers=origin
    ) as stream:
        async for line in stream.aiter_lines():
            seen.append(line)
            if line.startswith('data: {"message_id"'):
                break
    events_seen = sse_events("\n".join(seen) + "\n\n")
    last_id = events_seen[-1][2]
    assert last_id is not None
    run_id, seq = last_id.split(":")
    response = await clients[1].get(
        f"/v1/threads/{thread_id}/runs/{run_id}/events", headers={**origin, "Last-Event-ID": last_id}
    )
    resumed = sse_events(response.text)
    ids = [int(event_id.split(":")[1]) for _, _, event_id in resumed if event_id]
    assert ids == list(range(int(seq) + 1, int(seq) + 1 + len(ids)))
    assert resumed[-1][0] == "done"
    text = "".join(d["delta"] for n, d, _ in events_seen + resumed if n == "message.delta")
    completed = next(d for n, d, _ in resumed if n == "message.completed")
    assert completed["content"] == text

    async def reply_saved() -> bool:
        history = (await clients[1].get(f"/v1/threads/{thread_id}/messages", headers=origin)).json()
        return history["messages"][-1]["content"] == text

    await eventually(reply_saved)


async def test_stop_reaches_the_instance_running_the_reply(clients: list[httpx.AsyncClient]) -> None:
    origin = {"Origin": "https://open.test", "X-Visitor-Id": "visitor-scaleout-stop"}
    thread_id = (await clients[0].post("/v1/threads", headers=origin)).json()["thread_id"]
    url = f"/v1/threads/{thread_id}/messages"
    seen: list[str] = []
    async with clients[0].stream("POST", url, json={"content": "Hello [[fault:stall]]"}, headers=origin) as stream:
        lines = stream.aiter_lines()
        async for line in lines:
            seen.append(line)
            if line.startswith("event: message.delta"):
                break
        run_id = next(line for line in seen if line.startswith("id: ")).split()[1].split(":")[0]
        # the Stop lands on the other instance, which does not run the reply
        stop = await clients[1].post(f"/v1/threads/{thread_id}/runs/{run_id}/cancel", headers=origin)
        assert stop.status_code == 202, stop.text
        seen += [line async for line in lines]
    events = sse_events("\n".join(seen) + "\n\n")
    assert [name for name, _, _ in events][-2:] == ["error", "done"]
    assert events[-2][1]["code"] == "cancelled"
    # the thread is free again, from either instance
    retry = await clients[1].post(url, json={"content": "[[reply:again]]"}, headers=origin)
    assert retry.status_code == 200
    assert sse_events(retry.text)[-1][0] == "done"


async def test_stop_of_a_finished_reply_is_404_on_every_instance(clients: list[httpx.AsyncClient]) -> None:
    origin = {"Origin": "https://open.test", "X-Visitor-Id": "visitor-scaleout-stop-2"}
    thread_id = (await clients[0].post("/v1/threads", headers=origin)).json()["thread_id"]
    reply = await clients[0].post(f"/v1/threads/{thread_id}/messages", json={"content": "[[reply:hi]]"}, headers=origin)
    run_id = sse_events(reply.text)[0][2].split(":")[0]
    for client in clients:
        stop = await client.post(f"/v1/threads/{thread_id}/runs/{run_id}/cancel", headers=origin)
        assert stop.status_code == 404
        assert stop.json()["error"]["code"] == "run_not_found"
