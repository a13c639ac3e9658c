"""However a turn ends, its provider streams end with it: no async generator of a stream (the
SDK's, httpx2's, httpcore's or aiohttp's) is left for the garbage collector to finalize later.

Every engine against the simulator over real HTTP, for each way a turn stops: it finishes, the
tool rounds run out, the visitor leaves (the turn is closed) or its task is cancelled mid-stream,
the connection is cut, the provider reports a failure inside the stream. The assistants engine
reads through the SDK client's connections, over httpx2 or the provider pool's aiohttp session;
the chat and responses engines stream over the SDK client's httpx2 client here (over the provider
pool they use the wire client, which has no generators).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing

import anyio
import httpx2
import openai
import pytest

from proxy.engines.assistants import AssistantsEngine
from proxy.engines.base import AssistantProfile, Engine, TextDelta, ToolFinished, Turn, TurnFinished
from proxy.engines.chat import ChatEngine
from proxy.engines.provider_http import ProviderPool
from proxy.engines.responses import ResponsesEngine
from proxy.simulator import SimulatorServer
from proxy.tools.registry import Tool, ToolContext, ToolRegistry
from tests.integration.engines.conftest import abandoned_generators
from tests.support.engines import ORDER_SCHEMA, lookup_order, run_turn

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:proxy.engines.assistants"),
    pytest.mark.filterwarnings("ignore:The Assistants API is deprecated:DeprecationWarning"),
]

MAX_TOOL_ROUNDS = 2
REGISTRY = ToolRegistry()
REGISTRY.register(Tool("lookup_order", "Look an order up by its number.", ORDER_SCHEMA, lookup_order))
ENGINES: dict[str, Callable[[openai.AsyncOpenAI, AssistantProfile], Engine]] = {
    "chat": ChatEngine,
    "responses": ResponsesEngine,
    "assistants": AssistantsEngine,
}


@pytest.fixture
async def pooled_client(simulator: SimulatorServer) -> AsyncIterator[openai.AsyncOpenAI]:
    """An SDK client over the provider pool, as the app builds them (aiohttp for the SDK's calls)."""
    pool = ProviderPool(connect_timeout=5.0, read_timeout=30.0)
    async with pool, openai.AsyncOpenAI(base_url=simulator.base_url, api_key="sk-sim", http_client=pool) as sdk:
        yield sdk


def turn(conversation_id: str | None, text: str) -> Turn:
    return Turn(conversation_id, text, REGISTRY.subset(["lookup_order"]), ToolContext(tenant="t1", thread_id="th_1"))


async def finished(engine: Engine, turn: Turn) -> str:
    events, error = await run_turn(engine, turn)
    assert error is None, error
    assert isinstance(events[-1], TurnFinished)
    return "finished"


async def failed(engine: Engine, turn: Turn) -> str:
    _, error = await run_turn(engine, turn)
    assert error is not None
    return error.code


async def bounded(engine: Engine, turn: Turn) -> str:
    events, error = await run_turn(engine, turn)
    assert sum(isinstance(e, ToolFinished) for e in events) == MAX_TOOL_ROUNDS
    if isinstance(engine, AssistantsEngine):  # a run cannot be told to stop calling tools
        assert error is not None and error.code == "tool_rounds_exceeded"
    else:  # the last round forbids tools, so the model answers
        assert error is None and isinstance(events[-1], TurnFinished)
    return "bounded"


async def closed_mid_stream(engine: Engine, turn: Turn) -> str:
    async with aclosing(engine.stream_turn(turn)) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                return "closed"  # the visitor left: the turn is closed at its first delta
    raise AssertionError("no delta")


async def cancelled_mid_stream(engine: Engine, turn: Turn) -> str:
    with anyio.CancelScope() as scope:
        async for event in engine.stream_turn(turn):
            if isinstance(event, TextDelta):
                scope.cancel()  # the turn's task is cancelled while it waits for the next read
    assert scope.cancelled_caught
    return "cancelled"


Ending = Callable[[Engine, Turn], Awaitable[str]]
ENDINGS: dict[str, tuple[str, Ending, str]] = {
    "finished": ("Hello", finished, "finished"),
    "tool rounds run out": ("Go [[tool-loop:lookup_order]]", bounded, "bounded"),
    "closed": ("Take your time [[fault:stall]]", closed_mid_stream, "closed"),
    "cancelled": ("Take your time [[fault:stall]]", cancelled_mid_stream, "cancelled"),
    "cut": ("Hello [[fault:cut]]", failed, "upstream_stream_cut"),
    "failed inside the stream": ("Hello [[fault:failed]]", failed, "upstream_failed"),
}


async def streams_ended(control: httpx2.AsyncClient) -> None:
    """Once the simulator has seen the end of every stream it served (a stream the client left is
    noticed, and its conversation unlocked, a moment after the client's side ended)."""
    streams = sum(r["stream"] for r in (await control.get("/requests")).json()["requests"])
    answer = (await control.get("/requests", params={"min_ended": streams, "timeout": 10})).json()
    assert answer["satisfied"], answer


async def ending_leaves_no_stream(engine: Engine, ending: str, control: httpx2.AsyncClient) -> None:
    text, end, expected = ENDINGS[ending]
    conversation_id = await engine.create_conversation()
    with abandoned_generators() as abandoned:
        assert await end(engine, turn(conversation_id, text)) == expected
    assert abandoned == []

    await streams_ended(control)
    events, error = await run_turn(engine, turn(conversation_id, "Still there?"))  # the conversation is free
    assert error is None and isinstance(events[-1], TurnFinished), error


@pytest.mark.parametrize("ending", list(ENDINGS))
@pytest.mark.parametrize("name", list(ENGINES))
async def test_a_turn_leaves_no_stream_behind(
    name: str, ending: str, client: openai.AsyncOpenAI, control: httpx2.AsyncClient
) -> None:
    engine = ENGINES[name](client, AssistantProfile(model="gpt-4o-mini", max_tool_rounds=MAX_TOOL_ROUNDS))
    await ending_leaves_no_stream(engine, ending, control)


@pytest.mark.parametrize("ending", list(ENDINGS))
async def test_an_assistants_turn_over_the_provider_pool_leaves_no_stream_behind(
    ending: str, pooled_client: openai.AsyncOpenAI, control: httpx2.AsyncClient
) -> None:
    engine = AssistantsEngine(pooled_client, AssistantProfile(model="gpt-4o-mini", max_tool_rounds=MAX_TOOL_ROUNDS))
    await ending_leaves_no_stream(engine, ending, control)
