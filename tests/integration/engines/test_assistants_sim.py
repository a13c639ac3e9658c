"""What only the assistants engine does, against the simulator over real HTTP: threads, runs,
submitted outputs, cancelled runs. The engines' shared behaviour is in test_engine_contract.py."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest

from proxy.engines.assistants import AssistantsEngine
from proxy.engines.base import AssistantProfile, EngineError, TextDelta, Turn, TurnFinished
from proxy.tools.registry import ToolContext, ToolRegistry
from tests.support.engines import reply_text

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:proxy.engines.assistants"),
    pytest.mark.filterwarnings("ignore:The Assistants API is deprecated:DeprecationWarning"),
]

registry = ToolRegistry()


@registry.tool(name="lookup_order", description="An order's status.", parameters={"type": "object"})
async def lookup_order(ctx: ToolContext, args: dict[str, Any]) -> str:
    return f"order {args.get('id')} shipped"


@pytest.fixture
def engine(client: openai.AsyncOpenAI) -> AssistantsEngine:
    return AssistantsEngine(
        client, AssistantProfile(model="gpt-4o-mini", instructions="Be helpful.", max_tool_rounds=3)
    )


def turn(thread_id: str, text: str) -> Turn:
    return Turn(thread_id, text, registry.subset(["lookup_order"]), ToolContext(tenant="shop", thread_id="t1"))


async def collect(engine: AssistantsEngine, thread_id: str, text: str) -> list[Any]:
    return [event async for event in engine.stream_turn(turn(thread_id, text))]


async def requests(control: httpx2.AsyncClient) -> list[dict[str, Any]]:
    return (await control.get("/requests")).json()["requests"]  # type: ignore[no-any-return]


async def test_a_tool_round_submits_the_outputs_to_the_run(
    engine: AssistantsEngine, control: httpx2.AsyncClient
) -> None:
    thread_id = await engine.create_conversation()
    events = await collect(engine, thread_id, 'Where is it? [[tool:lookup_order {"id": 42}]]')

    assert reply_text(events) == "lookup_order returned: order 42 shipped"
    submits = [r for r in await requests(control) if r["path"].endswith("/submit_tool_outputs")]
    assert [s["body"]["tool_outputs"][0]["output"] for s in submits] == ["order 42 shipped"]


async def test_closing_a_stalled_turn_cancels_the_run(engine: AssistantsEngine, client: openai.AsyncOpenAI) -> None:
    thread_id = await engine.create_conversation()
    stream = engine.stream_turn(turn(thread_id, "Take your time [[fault:stall]]"))
    assert isinstance(await anext(stream), TextDelta)
    await stream.aclose()

    [listed] = (await client.beta.threads.runs.list(thread_id)).data
    run = await client.beta.threads.runs.retrieve(listed.id, thread_id=thread_id)
    assert run.status == "cancelled"
    events = await collect(engine, thread_id, "Still there?")  # the thread is free again
    assert reply_text(events).startswith("Echo: Still there?. This is message 2")


async def test_endless_tool_loop_is_bounded(engine: AssistantsEngine, control: httpx2.AsyncClient) -> None:
    thread_id = await engine.create_conversation()
    with pytest.raises(EngineError) as caught:
        await collect(engine, thread_id, "Go [[tool-loop:lookup_order]]")
    assert caught.value.code == "tool_rounds_exceeded"

    submits = [r for r in await requests(control) if r["path"].endswith("/submit_tool_outputs")]
    assert len(submits) == 3
    events = await collect(engine, thread_id, "Done?")  # the looping run was cancelled
    assert isinstance(events[-1], TurnFinished)


async def test_assistant_is_created_once_per_engine(engine: AssistantsEngine, control: httpx2.AsyncClient) -> None:
    for _ in range(2):
        await collect(engine, await engine.create_conversation(), "Hi")

    created = [r for r in await requests(control) if r["method"] == "POST" and r["path"] == "/v1/assistants"]
    assert len(created) == 1


async def test_deleted_thread_is_gone_and_deleting_again_is_fine(
    engine: AssistantsEngine, client: openai.AsyncOpenAI
) -> None:
    thread_id = await engine.create_conversation()
    await engine.delete_conversation(thread_id)
    await engine.delete_conversation(thread_id)
    with pytest.raises(openai.NotFoundError):
        await client.beta.threads.retrieve(thread_id)


async def test_runs_see_the_history_window(client: openai.AsyncOpenAI, control: httpx2.AsyncClient) -> None:
    windowed = AssistantsEngine(client, AssistantProfile(model="gpt-4o-mini", history_window=6))
    unbounded = AssistantsEngine(client, AssistantProfile(model="gpt-4o-mini", history_window=0))
    for engine in (windowed, unbounded):
        thread_id = await engine.create_conversation()
        await collect(engine, thread_id, "Hello")
    runs = [r["body"] for r in await requests(control) if r["method"] == "POST" and r["path"].endswith("/runs")]
    assert runs[0]["truncation_strategy"] == {"type": "last_messages", "last_messages": 7}
    assert "truncation_strategy" not in runs[1]  # the provider's default: its context window
