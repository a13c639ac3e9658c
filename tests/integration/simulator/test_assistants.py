"""Threads, messages and runs through ``client.beta.threads`` (deprecated in the SDK, still used)."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from proxy.simulator import SimulatorServer
from tests.integration.simulator.support import Control

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the SDK deprecates the Assistants API
]

TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}}},
]
ASSISTANT = "asst_simulated"


async def events_of(stream: Any) -> list[Any]:
    return [event async for event in stream]


def last_run(events: list[Any]) -> Any:
    runs = [e.data for e in events if e.event.startswith("thread.run.") and not e.event.startswith("thread.run.step")]
    return runs[-1]


async def test_text_run_streams_the_api_events(client: openai.AsyncOpenAI) -> None:
    thread = await client.beta.threads.create(messages=[{"role": "user", "content": "earlier"}])
    await client.beta.threads.messages.create(thread.id, role="user", content="Hello")
    events = await events_of(await client.beta.threads.runs.create(thread.id, assistant_id=ASSISTANT, stream=True))

    assert [e.event for e in events] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
        *["thread.message.delta"] * 40,
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]
    text = "".join(e.data.delta.content[0].text.value for e in events if e.event == "thread.message.delta")
    assert text.startswith("Echo: Hello. This is message 2 of this conversation.")
    completed = events[-1].data
    assert completed.status == "completed"
    assert completed.usage.completion_tokens == 40
    messages = await client.beta.threads.messages.list(thread.id, order="desc", limit=1)
    assert [m.content[0].text.value for m in messages.data] == [text]
    assert messages.has_more


async def test_tool_round_trip_with_requires_action_and_submit(client: openai.AsyncOpenAI) -> None:
    thread = await client.beta.threads.create()
    await client.beta.threads.messages.create(
        thread.id, role="user", content='[[tool:lookup {"q": 1}]] [[tool:weather {"city": "Rome"}]]'
    )
    events = await events_of(
        await client.beta.threads.runs.create(thread.id, assistant_id=ASSISTANT, tools=TOOLS, stream=True)
    )
    run = last_run(events)
    assert events[-1].event == "thread.run.requires_action"
    assert run.status == "requires_action"
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("lookup", '{"q":1}'),
        ("weather", '{"city":"Rome"}'),
    ]

    with pytest.raises(openai.BadRequestError):  # every call needs its output, in one request
        await client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": calls[0].id, "output": "x"}]
        )
    with pytest.raises(openai.BadRequestError) as busy:
        await client.beta.threads.messages.create(thread.id, role="user", content="hello?")
    assert busy.value.body["message"] == f"Can't add messages to {thread.id} while a run {run.id} is active."  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        await client.beta.threads.runs.create(thread.id, assistant_id=ASSISTANT)

    resumed = await events_of(
        await client.beta.threads.runs.submit_tool_outputs(
            run.id,
            thread_id=thread.id,
            tool_outputs=[
                {"tool_call_id": calls[0].id, "output": "found"},
                {"tool_call_id": calls[1].id, "output": "rain"},
            ],
            stream=True,
        )
    )
    assert resumed[0].event == "thread.run.step.completed"
    assert [o.function.output for o in resumed[0].data.step_details.tool_calls] == ["found", "rain"]
    assert last_run(resumed).status == "completed"
    message = next(e.data for e in resumed if e.event == "thread.message.completed")
    assert message.content[0].text.value == "lookup returned: found\nweather returned: rain"
    assert (await client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)).status == "completed"


async def test_the_sdk_event_handler_accepts_the_stream(client: openai.AsyncOpenAI) -> None:
    thread = await client.beta.threads.create(messages=[{"role": "user", "content": "[[tool:lookup {}]]"}])
    async with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=ASSISTANT, tools=TOOLS) as stream:
        run = await stream.get_final_run()
    assert run.status == "requires_action"
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    async with client.beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "ok"}]
    ) as stream:
        text = "".join([delta async for delta in stream.text_deltas])
    assert text == "lookup returned: ok"


async def test_cancel_answers_cancelling_then_the_run_is_cancelled(client: openai.AsyncOpenAI) -> None:
    thread = await client.beta.threads.create(messages=[{"role": "user", "content": "[[tool:lookup {}]]"}])
    run = await client.beta.threads.runs.create(thread.id, assistant_id=ASSISTANT, tools=TOOLS)
    assert run.status == "queued"  # unstreamed runs go on in the background
    run = await client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert run.status == "requires_action"

    cancelling = await client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelling.status == "cancelling"
    assert (await client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)).status == "cancelled"
    await client.beta.threads.messages.create(thread.id, role="user", content="the thread is free again")


async def test_cancel_ends_a_live_run_stream(client: openai.AsyncOpenAI, control: Control) -> None:
    thread = await client.beta.threads.create(messages=[{"role": "user", "content": "[[fault:stall]]"}])
    stream = await client.beta.threads.runs.create(thread.id, assistant_id=ASSISTANT, stream=True)
    events = []
    async for event in stream:
        events.append(event)
        if event.event == "thread.message.created":
            await client.beta.threads.runs.cancel(event.data.run_id, thread_id=thread.id)
    assert events[-1].event == "thread.run.cancelled"
    messages = await client.beta.threads.messages.list(thread.id, order="desc")
    assert messages.data[0].status == "incomplete"


async def test_a_disconnected_run_stays_active_until_cancelled(client: openai.AsyncOpenAI, control: Control) -> None:
    thread = await client.beta.threads.create(messages=[{"role": "user", "content": "[[fault:stall]]"}])
    stream = await client.beta.threads.runs.create(thread.id, assistant_id=ASSISTANT, stream=True)
    async for event in stream:
        if event.event == "thread.message.delta":
            break
    await stream.close()
    await control.requests(min_disconnected=1)
    runs = await client.beta.threads.runs.list(thread.id)
    assert [run.status for run in runs.data] == ["in_progress"]
    await client.beta.threads.runs.cancel(runs.data[0].id, thread_id=thread.id)


async def test_rate_limit_inside_a_run_is_a_failed_run(client: openai.AsyncOpenAI) -> None:
    thread = await client.beta.threads.create(messages=[{"role": "user", "content": "[[fault:run_rate_limit]]"}])
    events = await events_of(await client.beta.threads.runs.create(thread.id, assistant_id=ASSISTANT, stream=True))
    assert [e.event for e in events][-1] == "thread.run.failed"
    failed = events[-1].data
    assert failed.last_error.code == "rate_limit_exceeded"
    assert failed.status == "failed"

    await client.beta.threads.messages.create(thread.id, role="user", content="[[fault:failed]]")
    events = await events_of(await client.beta.threads.runs.create(thread.id, assistant_id=ASSISTANT, stream=True))
    assert [e.event for e in events].count("thread.message.delta") == 3
    assert last_run(events).last_error.code == "server_error"


async def test_assistants_create_and_fixed_ids(client: openai.AsyncOpenAI, simulator: SimulatorServer) -> None:
    created = await client.beta.assistants.create(model="gpt-4o", instructions="Talk like a pirate.", tools=TOOLS)
    assert (await client.beta.assistants.retrieve(created.id)).instructions == "Talk like a pirate."
    assert (await client.beta.assistants.retrieve("asst_anything")).id == "asst_anything"
    with pytest.raises(openai.NotFoundError):
        await client.beta.assistants.retrieve("nope")

    thread = await client.beta.threads.create(messages=[{"role": "user", "content": "hi [[echo-instructions]]"}])
    run = await client.beta.threads.runs.create(thread.id, assistant_id=created.id)
    messages = await client.beta.threads.messages.list(thread.id, run_id=run.id)
    assert "Instructions: Talk like a pirate." in messages.data[0].content[0].text.value

    async with httpx.AsyncClient() as http:
        listing = await http.get(f"{simulator.base_url}/assistants", headers={"Authorization": "Bearer sk-test"})
    assert listing.status_code == 404
    assert listing.json()["error"]["message"] == "Invalid URL (GET /v1/assistants)"


async def test_thread_objects(client: openai.AsyncOpenAI) -> None:
    thread = await client.beta.threads.create(metadata={"site": "a"})
    assert (await client.beta.threads.retrieve(thread.id)).metadata == {"site": "a"}
    for text in ("one", "two", "three"):
        await client.beta.threads.messages.create(thread.id, role="user", content=text)
    oldest = await client.beta.threads.messages.list(thread.id, order="asc", limit=2)
    assert [m.content[0].text.value for m in oldest.data] == ["one", "two"]
    everything = [m.content[0].text.value async for m in client.beta.threads.messages.list(thread.id, limit=1)]
    assert everything == ["three", "two", "one"]
    assert (await client.beta.threads.delete(thread.id)).deleted
    with pytest.raises(openai.NotFoundError):
        await client.beta.threads.retrieve(thread.id)
