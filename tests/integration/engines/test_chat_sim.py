"""ChatEngine against the simulator's Chat Completions endpoint over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

import httpx2
import openai
import pytest

from proxy.engines.base import (
    AssistantProfile,
    EngineError,
    EngineEvent,
    HistoryMessage,
    TextDelta,
    ToolFinished,
    ToolStarted,
    Turn,
    TurnFinished,
)
from proxy.engines.chat import ChatEngine
from proxy.simulator import SimulatorConfig, SimulatorServer
from proxy.tools.registry import Tool, ToolContext, ToolRegistry
from tests.support.engines import ORDER_SCHEMA, lookup_order, reply_text

pytestmark = pytest.mark.integration

REGISTRY = ToolRegistry()
REGISTRY.register(Tool("lookup_order", "Look an order up by its number.", ORDER_SCHEMA, lookup_order))


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(model="echo")) as sim:
        yield sim


@pytest.fixture
async def client(simulator: SimulatorServer) -> AsyncIterator[openai.AsyncOpenAI]:
    sdk = openai.AsyncOpenAI(base_url=simulator.base_url, api_key="sk-sim", max_retries=0)
    yield sdk
    await sdk.close()


@pytest.fixture
async def control(simulator: SimulatorServer) -> AsyncIterator[httpx2.AsyncClient]:
    """The simulator's ``/_sim`` side door, its request log reset for this test."""
    async with httpx2.AsyncClient(base_url=f"{simulator.root_url}/_sim") as http:
        (await http.post("/reset")).raise_for_status()
        yield http


def engine(client: openai.AsyncOpenAI, **profile: Any) -> ChatEngine:
    return ChatEngine(client, AssistantProfile(**{"model": "gpt-4o-mini", "instructions": "Be brief.", **profile}))


def turn(text: str, history: tuple[HistoryMessage, ...] = ()) -> Turn:
    ctx = ToolContext(tenant="t1", thread_id="th_1")
    return Turn(None, text, REGISTRY.subset(["lookup_order"]), ctx, history)


async def run(eng: ChatEngine, t: Turn) -> list[EngineEvent]:
    return [event async for event in eng.stream_turn(t)]


async def test_history_carries_the_conversation(client) -> None:
    eng = engine(client)
    assert await eng.create_conversation() is None

    first = await run(eng, turn("Hello"))
    history = (HistoryMessage("user", "Hello"), HistoryMessage("assistant", reply_text(first)))
    second = await run(eng, turn("Again", history))

    assert reply_text(first).startswith("Echo: Hello. This is message 1 of this conversation.")
    assert reply_text(second).startswith("Echo: Again. This is message 2 of this conversation.")
    finished = second[-1]
    assert isinstance(finished, TurnFinished) and finished.usage.input_tokens > 0


async def test_the_history_it_is_given_is_sent(client) -> None:
    history = (HistoryMessage("user", "three"), HistoryMessage("assistant", "four"))  # cut by the turn runner

    events = await run(engine(client, history_window=2), turn("five", history))

    assert "This is message 2 of this conversation." in reply_text(events)


async def test_tool_round_trip(client, control) -> None:
    events = await run(engine(client), turn('[[tool:lookup_order {"order": "A1"}]] Where is A1?'))

    started = [e for e in events if isinstance(e, ToolStarted)]
    assert [s.name for s in started] == ["lookup_order"]
    assert ToolFinished(started[0].call_id, "lookup_order", True) in events
    assert 'lookup_order returned: {"order":"A1","status":"shipped"}' in reply_text(events)
    log = (await control.get("/requests")).json()["requests"]
    second = [r["body"] for r in log if r["path"].endswith("/chat/completions")][1]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]


async def test_tool_loop_is_bounded_by_the_profile(client, control) -> None:
    events = await run(engine(client, max_tool_rounds=2), turn("[[tool-loop:lookup_order]] Keep looking."))

    assert sum(isinstance(e, ToolFinished) for e in events) == 2
    assert isinstance(events[-1], TurnFinished)
    log = (await control.get("/requests")).json()["requests"]
    bodies = [r["body"] for r in log if r["path"].endswith("/chat/completions")]
    assert [b.get("tool_choice") for b in bodies] == [None, None, "none"]


@pytest.mark.parametrize(
    ("fault", "code", "retryable"),
    [
        ("429", "upstream_rate_limited", True),
        ("quota", "upstream_quota", False),
        ("500", "upstream_unavailable", True),
        ("401", "upstream_auth", False),
        ("cut", "upstream_stream_cut", True),
        ("failed", "upstream_failed", True),
    ],
)
async def test_faults_are_mapped(client, fault, code, retryable) -> None:
    with pytest.raises(EngineError) as caught:
        await run(engine(client), turn(f"[[fault:{fault}]] Hello"))

    assert (caught.value.code, caught.value.retryable) == (code, retryable)


async def test_closing_early_disconnects_the_stream(client, control) -> None:
    async with aclosing(engine(client).stream_turn(turn("[[fault:stall]] Hello"))) as events:
        assert isinstance(await anext(events), TextDelta)

    log = (await control.get("/requests", params={"min_disconnected": 1})).json()
    assert log["satisfied"]
