"""What the chat engine sends the simulator's Chat Completions endpoint (the engines' shared
behaviour is in test_engine_contract.py)."""

from __future__ import annotations

import httpx2
import openai
import pytest

from proxy.engines.base import AssistantProfile, HistoryMessage, ToolFinished, Turn, TurnFinished
from proxy.engines.chat import ChatEngine
from proxy.tools.registry import Tool, ToolContext, ToolRegistry
from tests.integration.engines.conftest import logged
from tests.support.engines import ORDER_SCHEMA, lookup_order, reply_text, run_turn

pytestmark = pytest.mark.integration

REGISTRY = ToolRegistry()
REGISTRY.register(Tool("lookup_order", "Look an order up by its number.", ORDER_SCHEMA, lookup_order))


def turn(text: str, history: tuple[HistoryMessage, ...] = ()) -> Turn:
    return Turn(None, text, REGISTRY.subset(["lookup_order"]), ToolContext(tenant="t1", thread_id="th_1"), history)


async def test_a_tool_round_resends_the_transcript_with_the_call_and_its_output(
    client: openai.AsyncOpenAI, control: httpx2.AsyncClient
) -> None:
    history = (HistoryMessage("user", "three"), HistoryMessage("assistant", "four"))  # cut by the turn runner
    engine = ChatEngine(client, AssistantProfile(model="gpt-4o-mini", instructions="Be brief.", history_window=2))

    text = '[[tool:lookup_order {"order": "A1"}]] Where is A1?'

    events, error = await run_turn(engine, turn(text, history))

    assert error is None and "lookup_order returned" in reply_text(events)
    first, second = await logged(control, "/chat/completions")
    assert [m["content"] for m in first["messages"]] == ["Be brief.", "three", "four", text]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user", "assistant", "tool"]


async def test_the_last_round_forbids_tools(client: openai.AsyncOpenAI, control: httpx2.AsyncClient) -> None:
    engine = ChatEngine(client, AssistantProfile(model="gpt-4o-mini", max_tool_rounds=2))

    events, _ = await run_turn(engine, turn("[[tool-loop:lookup_order]] Keep looking."))

    assert sum(isinstance(e, ToolFinished) for e in events) == 2 and isinstance(events[-1], TurnFinished)
    assert [b.get("tool_choice") for b in await logged(control, "/chat/completions")] == [None, None, "none"]
