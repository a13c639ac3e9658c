"""What only the responses engine does, against the simulator over real HTTP (Responses and
Conversations APIs): its requests, its conversations, chaining and the history mode. The engines'
shared behaviour is in test_engine_contract.py."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import anyio
import openai
import pytest

from proxy.engines.base import (
    AssistantProfile,
    ContextSaved,
    EngineError,
    EngineEvent,
    HistoryMessage,
    ToolStarted,
    Turn,
)
from proxy.engines.context import Chain
from proxy.engines.responses import NOT_RUN, ResponsesEngine
from proxy.tools.registry import Tool, ToolContext, ToolRegistry
from tests.integration.engines.conftest import logged
from tests.support.engines import ORDER_SCHEMA, lookup_order, reply_text

pytestmark = pytest.mark.integration

REGISTRY = ToolRegistry()
REGISTRY.register(Tool("lookup_order", "Look an order up by its number.", ORDER_SCHEMA, lookup_order))


def engine(client: openai.AsyncOpenAI, **profile: Any) -> ResponsesEngine:
    return ResponsesEngine(client, AssistantProfile(**{"model": "gpt-4o-mini", "instructions": "Be brief.", **profile}))


def turn(text: str, conversation_id: str | None) -> Turn:
    ctx = ToolContext(tenant="t1", thread_id="th_1")
    return Turn(conversation_id, text, REGISTRY.subset(["lookup_order"]), ctx)


async def run(eng: ResponsesEngine, t: Turn) -> list[EngineEvent]:
    return [event async for event in eng.stream_turn(t)]


async def test_a_tool_round_names_the_conversation(client, control) -> None:
    eng = engine(client)
    conversation_id = await eng.create_conversation()

    await run(eng, turn('[[tool:lookup_order {"order": "A1"}]] Where is A1?', conversation_id))

    bodies = await logged(control, "/responses")
    assert bodies[1]["input"][0]["type"] == "function_call_output"
    assert all(b["instructions"] == "Be brief." and b["conversation"] == conversation_id for b in bodies)
    # the provider's conversation grows without end: past the context window the oldest items go
    assert all(b["truncation"] == "auto" for b in bodies)


async def test_the_last_round_forbids_tools(client, control) -> None:
    eng = engine(client, max_tool_rounds=2)
    conversation_id = await eng.create_conversation()

    await run(eng, turn("[[tool-loop:lookup_order]] Keep looking.", conversation_id))

    assert [b.get("tool_choice") for b in await logged(control, "/responses")] == [None, None, "none"]


async def test_stopping_during_a_tool_call_leaves_the_conversation_usable(client) -> None:
    eng = engine(client)
    conversation_id = await eng.create_conversation()

    async with aclosing(eng.stream_turn(turn("[[tool:lookup_order {}]] Where?", conversation_id))) as events:
        assert isinstance(await anext(events), ToolStarted)  # the visitor leaves here

    after = await run(eng, turn("Hello again", conversation_id))

    assert "This is message 2 of this conversation." in reply_text(after)


async def test_a_second_turn_while_one_runs_is_refused_as_retryable(client) -> None:
    eng = engine(client)
    conversation_id = await eng.create_conversation()

    async with aclosing(eng.stream_turn(turn("[[fault:stall]] First", conversation_id))) as running:
        await anext(running)
        with pytest.raises(EngineError) as caught:
            await run(eng, turn("Second", conversation_id))

    assert (caught.value.code, caught.value.retryable, caught.value.status) == ("upstream_bad_request", True, 409)


async def test_conversations_are_created_and_deleted(client) -> None:
    eng = engine(client)
    conversation_id = await eng.create_conversation()

    await eng.delete_conversation(conversation_id)
    await eng.delete_conversation(conversation_id)  # already gone: not an error

    with anyio.fail_after(10), pytest.raises(EngineError) as caught:
        await run(eng, turn("Hello", conversation_id))
    assert caught.value.code == "upstream_not_found"


# -- chaining responses (previous_response_id) ----------------------------------------------------


def chain_turn(text: str, state: str | None, history: tuple[HistoryMessage, ...] = ()) -> Turn:
    ctx = ToolContext(tenant="t1", thread_id="th_1")
    return Turn(state, text, REGISTRY.subset(["lookup_order"]), ctx, history)


def last_state(events: list[EngineEvent]) -> str:
    return [e for e in events if isinstance(e, ContextSaved)][-1].state


async def test_a_chain_goes_on_from_the_last_response(client, control) -> None:
    eng = engine(client, context="previous_response")
    assert await eng.create_conversation() is None  # nothing to create: the chain is the context

    first = await run(eng, chain_turn("Hello", None))
    second = await run(eng, chain_turn("Again", last_state(first)))

    assert "This is message 2 of this conversation." in reply_text(second)
    bodies = await logged(control, "/responses")
    assert "previous_response_id" not in bodies[0] and bodies[0]["store"] is True
    assert bodies[1]["previous_response_id"] == Chain.load(last_state(first)).response_id  # type: ignore[union-attr]


async def test_stopping_during_a_tool_call_leaves_the_chain_usable(client) -> None:
    eng = engine(client, context="previous_response")
    saved: list[str] = []

    async with aclosing(eng.stream_turn(chain_turn("[[tool:lookup_order {}]] Where?", None))) as events:
        async for event in events:
            if isinstance(event, ContextSaved):
                saved.append(event.state)
            if isinstance(event, ToolStarted):
                break  # the visitor leaves here

    chain = Chain.load(saved[-1])
    assert chain is not None and [o["output"] for o in chain.outputs] == [NOT_RUN]
    after = await run(eng, chain_turn("Hello again", saved[-1]))
    assert "This is message 2 of this conversation." in reply_text(after)


async def test_a_chain_the_provider_lost_is_replaced_by_the_history(client) -> None:
    eng = engine(client, context="previous_response")
    lost = Chain("resp_gone").dump()
    history = (HistoryMessage("user", "Hello"), HistoryMessage("assistant", "Hi!"))

    events = await run(eng, chain_turn("Again", lost, history))

    assert "This is message 2 of this conversation." in reply_text(events)
    assert Chain.load(last_state(events)) is not None  # and it chains from the new response on


async def test_history_mode_resends_the_turn_in_every_round(client, control) -> None:
    eng = engine(client, context="history", history_window=1)
    history = (HistoryMessage("assistant", "kept"),)  # cut to the window by the turn runner

    events = await run(eng, chain_turn('[[tool:lookup_order {"order": "A1"}]] Where is A1?', None, history))

    assert not [e for e in events if isinstance(e, ContextSaved)]
    assert 'lookup_order returned: {"order":"A1","status":"shipped"}' in reply_text(events)
    bodies = await logged(control, "/responses")
    assert all(b["store"] is False and "previous_response_id" not in b and "conversation" not in b for b in bodies)
    first, second = bodies[0]["input"], bodies[1]["input"]
    assert [i.get("content") for i in first] == ["kept", '[[tool:lookup_order {"order": "A1"}]] Where is A1?']
    assert [i.get("type") for i in second[2:]] == ["function_call", "function_call_output"]
