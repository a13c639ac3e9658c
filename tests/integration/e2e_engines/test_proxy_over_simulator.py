"""The whole chain over real HTTP: client -> proxy (uvicorn) -> engine -> simulator (uvicorn).

Every engine is driven through the same v1 API, so the client-facing protocol is the same
whichever provider protocol sits behind it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.app import create_app
from proxy.simulator import ServerThread, SimulatorConfig, SimulatorServer
from tests.support.apps import directory, make_settings, make_tenant, sse_events
from tests.support.scripted_engine import scripted_tools
from tests.support.waiting import eventually

ENGINES = ["responses", "assistants", "chat"]


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(model="echo")) as sim:
        yield sim


# both HTTP stacks the proxy can send through: aiohttp (the default) and httpx
@pytest.fixture(scope="module", params=["aiohttp", "httpx"])
def proxy_server(
    request: pytest.FixtureRequest, pg_url: str, tmp_path_factory: pytest.TempPathFactory, simulator: SimulatorServer
) -> Iterator[ServerThread]:
    tenants = directory(
        *(
            make_tenant(
                engine,
                [f"{engine}.test"],
                engine=engine,
                base_url=simulator.base_url,
                tools=["lookup"],
                instructions=f"You are the {engine} shop.",
                max_tool_rounds=3,
            )
            for engine in ENGINES
        ),
        make_tenant("badkey", ["badkey.test"], base_url=simulator.base_url, api_key="sk-invalid-key"),
    )
    settings = make_settings(
        pg_url,
        Path(tmp_path_factory.mktemp("e2e")),
        provider_max_retries=0,
        provider_read_timeout=2.0,
        provider_transport=request.param,
        disconnect_grace=0,
    )
    app = create_app(settings, tenants=tenants, tools=scripted_tools())
    with ServerThread(app) as server:
        yield server


@pytest.fixture
async def sim_http(simulator: SimulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=simulator.root_url, timeout=10) as client:
        yield client


def client_for(server: ServerThread, tenant: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, headers={"Origin": f"https://{tenant}.test"}, timeout=20)


async def turn(http: httpx.AsyncClient, thread_id: str, content: str) -> list[tuple[str, dict[str, Any], str | None]]:
    response = await http.post(f"/v1/threads/{thread_id}/messages", json={"content": content})
    assert response.status_code == 200, response.text
    return sse_events(response.text)


def text_of(events: list[tuple[str, dict[str, Any], str | None]]) -> str:
    return "".join(data["delta"] for name, data, _ in events if name == "message.delta")


@pytest.mark.parametrize("engine", ENGINES)
async def test_reply_streams_and_history_continues(proxy_server: ServerThread, engine: str) -> None:
    async with client_for(proxy_server, engine) as http:
        thread_id = (await http.post("/v1/threads")).json()["thread_id"]
        # tokens 50 ms apart: each arrives in a read of its own (tokens read together go on as one delta)
        first = await turn(http, thread_id, "[[pace:gap=50]][[reply:Hello from the simulator, friend.]]")
        names = [name for name, _, _ in first]
        assert names[0] == "run.started" and names[-2:] == ["run.completed", "done"]
        assert names.count("message.delta") > 1  # streamed in pieces
        assert text_of(first) == "Hello from the simulator, friend."
        completed = next(data for name, data, _ in first if name == "message.completed")
        assert completed["content"] == "Hello from the simulator, friend."
        assert next(data for name, data, _ in first if name == "run.completed")["usage"]["output_tokens"] > 0

        second = await turn(http, thread_id, "What about the second question?")
        assert "message 2 of this conversation" in text_of(second)
        history = (await http.get(f"/v1/threads/{thread_id}/messages")).json()["messages"]
        assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
        assert history[1]["content"] == "Hello from the simulator, friend."


@pytest.mark.parametrize("engine", ENGINES)
async def test_instructions_reach_the_provider(proxy_server: ServerThread, engine: str) -> None:
    async with client_for(proxy_server, engine) as http:
        thread_id = (await http.post("/v1/threads")).json()["thread_id"]
        events = await turn(http, thread_id, "Hi [[echo-instructions]]")
        assert f"You are the {engine} shop" in text_of(events)


@pytest.mark.parametrize("engine", ENGINES)
async def test_tool_call_runs_server_side(proxy_server: ServerThread, engine: str) -> None:
    async with client_for(proxy_server, engine) as http:
        thread_id = (await http.post("/v1/threads")).json()["thread_id"]
        events = await turn(http, thread_id, '[[tool:lookup {"word": "teapot"}]]')
        started = [data for name, data, _ in events if name == "tool.started"]
        finished = [data for name, data, _ in events if name == "tool.finished"]
        assert [d["name"] for d in started] == ["lookup"] and finished[0]["ok"] is True
        assert started[0]["call_id"] == finished[0]["call_id"]
        assert '"word":"teapot"' in text_of(events)
        assert f'"tenant":"{engine}"' in text_of(events)


@pytest.mark.parametrize("engine", ENGINES)
async def test_endless_tool_calls_are_bounded(proxy_server: ServerThread, engine: str) -> None:
    async with client_for(proxy_server, engine) as http:
        thread_id = (await http.post("/v1/threads")).json()["thread_id"]
        events = await turn(http, thread_id, "[[tool-loop:lookup]]")
        assert [name for name, _, _ in events][-1] == "done"
        assert sum(name == "tool.started" for name, _, _ in events) <= 3
        # whatever the engine did at the bound, the thread is usable afterwards
        assert text_of(await turn(http, thread_id, "[[reply:still here]]")) == "still here"


FAULTS = [
    ("429", "upstream_rate_limited", True),
    ("quota", "upstream_quota", False),
    ("500", "upstream_unavailable", True),
    ("cut", "upstream_stream_cut", True),
    ("failed", "upstream_failed", True),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("fault", "code", "retryable"), FAULTS)
async def test_upstream_faults_end_with_error_and_done(
    proxy_server: ServerThread, engine: str, fault: str, code: str, retryable: bool
) -> None:
    async with client_for(proxy_server, engine) as http:
        thread_id = (await http.post("/v1/threads")).json()["thread_id"]
        events = await turn(http, thread_id, f"Hello [[fault:{fault}]]")
        assert [name for name, _, _ in events][-2:] == ["error", "done"]
        error = events[-2][1]
        assert (error["code"], error["retryable"]) == (code, retryable)
        assert text_of(await turn(http, thread_id, "[[reply:recovered]]")) == "recovered"


async def test_invalid_provider_key_is_reported(proxy_server: ServerThread) -> None:
    async with client_for(proxy_server, "badkey") as http:
        thread_id = (await http.post("/v1/threads")).json()["thread_id"]
        events = await turn(http, thread_id, "Hello")
        assert [name for name, _, _ in events][-2:] == ["error", "done"]
        assert events[-2][1]["code"] == "upstream_auth"


@pytest.mark.parametrize("engine", ENGINES)
async def test_stalled_provider_hits_read_timeout(proxy_server: ServerThread, engine: str) -> None:
    async with client_for(proxy_server, engine) as http:
        thread_id = (await http.post("/v1/threads")).json()["thread_id"]
        events = await turn(http, thread_id, "Hello [[fault:stall]]")
        assert [name for name, _, _ in events][-2:] == ["error", "done"]
        assert events[-2][1]["code"] in ("upstream_timeout", "upstream_stream_cut")
        assert events[-2][1]["retryable"] is True


@pytest.mark.parametrize("engine", ENGINES)
async def test_visitor_leaving_stops_the_provider(
    proxy_server: ServerThread, sim_http: httpx.AsyncClient, engine: str
) -> None:
    async with client_for(proxy_server, engine) as http:
        thread_id = (await http.post("/v1/threads")).json()["thread_id"]
        before = (await sim_http.get("/_sim/requests", params={"timeout": 0})).json()["requests"]
        disconnected_before = sum(r.get("outcome") == "disconnected" for r in before)
        body = {"content": "Hello [[fault:stall]]"}
        async with http.stream("POST", f"/v1/threads/{thread_id}/messages", json=body) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("event: message.delta"):
                    break
        log = (
            await sim_http.get("/_sim/requests", params={"min_disconnected": disconnected_before + 1, "timeout": 5})
        ).json()
        assert log["satisfied"], log
        # the thread is freed once the turn's epilogue has saved the partial reply

        async def partial_reply_saved() -> bool:
            history = (await http.get(f"/v1/threads/{thread_id}/messages")).json()["messages"]
            return history[-1]["role"] == "assistant"

        await eventually(partial_reply_saved)
        assert text_of(await turn(http, thread_id, "[[reply:back]]")) == "back"
