"""The contract every provider engine keeps, run against each of them over the simulator (real HTTP).

Each engine streams text and reports usage, runs a tool round and a failing tool, bounds the tool
rounds, maps the provider's faults to the same error codes, and stops the provider's work when the
turn is closed early, leaving the conversation usable. What only one engine does (its request
shapes, chaining, runs) is tested in the engine's own file next to this one.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

import httpx2
import openai
import pytest

from proxy.engines.assistants import AssistantsEngine
from proxy.engines.base import (
    AssistantProfile,
    Engine,
    EngineError,
    EngineEvent,
    HistoryMessage,
    MessageCompleted,
    TextDelta,
    ToolFinished,
    ToolStarted,
    Turn,
    TurnFinished,
)
from proxy.engines.chat import ChatEngine
from proxy.engines.responses import ResponsesEngine
from proxy.tools.registry import Tool, ToolContext, ToolError, ToolRegistry
from tests.support.engines import ORDER_OUTPUT, ORDER_SCHEMA, lookup_order, reply_text, run_turn

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:proxy.engines.assistants"),
    pytest.mark.filterwarnings("ignore:The Assistants API is deprecated:DeprecationWarning"),
]

MAX_TOOL_ROUNDS = 2


async def broken(ctx: ToolContext, args: dict[str, Any]) -> str:
    raise ToolError("the order system is down")


REGISTRY = ToolRegistry()
REGISTRY.register(Tool("lookup_order", "Look an order up by its number.", ORDER_SCHEMA, lookup_order))
REGISTRY.register(Tool("broken", "Always fails.", {"type": "object", "properties": {}}, broken))

Build = Callable[[openai.AsyncOpenAI, AssistantProfile], Engine]
ENGINES: dict[str, Build] = {
    "chat": ChatEngine,
    "responses": lambda client, profile: ResponsesEngine(client, profile),  # a provider conversation
    # our transcript as the context: the history the turn runner gives it is what the model sees
    "responses-history": lambda client, profile: ResponsesEngine(client, replace(profile, context="history")),
    "assistants": AssistantsEngine,
}


@dataclass
class Conversation:
    """One thread with one engine, kept as the turn runner keeps it: the provider's id and our
    transcript, of which each turn gets the last ``engine.history_window()`` messages."""

    engine: Engine
    conversation_id: str | None = None
    transcript: list[HistoryMessage] = field(default_factory=list)

    def turn(self, text: str) -> Turn:
        window = self.engine.history_window()
        history = tuple(self.transcript[-window:]) if window else ()
        context = ToolContext(tenant="t1", thread_id="th_1")
        return Turn(self.conversation_id, text, REGISTRY.subset(["lookup_order", "broken"]), context, history)

    def stream(self, text: str) -> AsyncGenerator[EngineEvent, None]:
        return self.engine.stream_turn(self.turn(text))

    async def say(self, text: str) -> tuple[list[EngineEvent], EngineError | None]:
        events, error = await run_turn(self.engine, self.turn(text))
        self.transcript.append(HistoryMessage("user", text))
        self.transcript.extend(
            HistoryMessage("assistant", e.content) for e in events if isinstance(e, MessageCompleted)
        )
        return events, error

    async def reply(self, text: str) -> list[EngineEvent]:
        events, error = await self.say(text)
        assert error is None, error
        assert isinstance(events[-1], TurnFinished)
        return events


@pytest.fixture(params=list(ENGINES))
async def conversation(request: pytest.FixtureRequest, client: openai.AsyncOpenAI) -> Conversation:
    profile = AssistantProfile(model="gpt-4o-mini", instructions="Be brief.", max_tool_rounds=MAX_TOOL_ROUNDS)
    engine = ENGINES[request.param](client, profile)
    return Conversation(engine, await engine.create_conversation())


async def test_text_streams_and_usage_is_reported(conversation: Conversation) -> None:
    events = await conversation.reply("Hello")

    assert reply_text(events).startswith("Echo: Hello. This is message 1 of this conversation.")
    assert isinstance(events[0], TextDelta) and isinstance(events[-2], MessageCompleted)
    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    assert finished.usage.input_tokens > 0 and finished.usage.output_tokens > 0


async def test_the_next_turn_sees_the_conversation(conversation: Conversation) -> None:
    await conversation.reply("Hello")

    events = await conversation.reply("Again")

    assert reply_text(events).startswith("Echo: Again. This is message 2 of this conversation.")


async def test_a_tool_round(conversation: Conversation) -> None:
    events = await conversation.reply('[[tool:lookup_order {"order": "A1"}]] Where is A1?')

    started = [e for e in events if isinstance(e, ToolStarted)]
    assert [s.name for s in started] == ["lookup_order"]
    assert events.index(started[0]) < events.index(ToolFinished(started[0].call_id, "lookup_order", True))
    assert f"lookup_order returned: {ORDER_OUTPUT}" in reply_text(events)


async def test_a_failing_tool_tells_the_model(conversation: Conversation) -> None:
    events = await conversation.reply("[[tool:broken {}]] Check the order system.")

    [finished] = [e for e in events if isinstance(e, ToolFinished)]
    assert (finished.name, finished.ok) == ("broken", False)
    assert "broken returned: Error: the order system is down" in reply_text(events)


async def test_tool_rounds_are_bounded(conversation: Conversation) -> None:
    events, error = await conversation.say("[[tool-loop:lookup_order]] Keep looking.")

    assert sum(isinstance(e, ToolFinished) for e in events) == MAX_TOOL_ROUNDS
    if isinstance(conversation.engine, AssistantsEngine):  # a run cannot be told to stop calling tools
        assert error is not None and error.code == "tool_rounds_exceeded"
    else:  # the last round forbids tools, so the model answers
        assert error is None and isinstance(events[-1], TurnFinished)
    assert "This is message 2" in reply_text(await conversation.reply("Done?"))


@pytest.mark.parametrize(
    ("fault", "code", "retryable"),
    [
        ("429", "upstream_rate_limited", True),
        ("quota", "upstream_quota", False),
        ("500", "upstream_unavailable", True),
        ("401", "upstream_auth", False),
        ("cut", "upstream_stream_cut", True),
        ("failed", "upstream_failed", True),
        ("run_rate_limit", "upstream_rate_limited", True),
    ],
)
async def test_faults_are_mapped_and_leave_the_conversation_usable(
    conversation: Conversation, fault: str, code: str, retryable: bool
) -> None:
    _, error = await conversation.say(f"[[fault:{fault}]] Hello")

    assert error is not None and (error.code, error.retryable) == (code, retryable)
    assert isinstance((await conversation.reply("Again"))[-1], TurnFinished)


async def test_closing_early_stops_the_provider_and_leaves_the_conversation_usable(
    conversation: Conversation, control: httpx2.AsyncClient
) -> None:
    async with aclosing(conversation.stream("[[fault:stall]] Hello")) as events:
        assert isinstance(await anext(events), TextDelta)  # the visitor leaves here

    log = (await control.get("/requests", params={"min_disconnected": 1})).json()
    assert log["satisfied"]
    assert isinstance((await conversation.reply("Still there?"))[-1], TurnFinished)
