"""The Responses and Conversations APIs through ``client.responses`` and ``client.conversations``."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.integration.simulator.support import Control

pytestmark = pytest.mark.integration

TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "lookup",
        "description": "Look something up.",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
    {
        "type": "function",
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
]


async def collect(stream: Any) -> list[Any]:
    return [event async for event in stream]


async def test_streamed_text_has_the_event_sequence_of_the_api(client: openai.AsyncOpenAI) -> None:
    events = await collect(
        await client.responses.create(model="gpt-4o", input="Hello there [[reply:Hi, how can I help?]]", stream=True)
    )

    kinds = [event.type for event in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 5,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Hi, how can I help?"
    completed = events[-1].response
    assert completed.status == "completed"
    assert completed.output_text == "Hi, how can I help?"
    assert completed.usage.output_tokens == 5
    assert completed.usage.total_tokens == completed.usage.input_tokens + 5
    assert completed.usage.input_tokens_details.cached_tokens == 0


async def test_function_call_round_trip_through_a_conversation(client: openai.AsyncOpenAI) -> None:
    conversation = await client.conversations.create()
    message = 'Check [[tool:lookup {"q": "shoes"}]] and [[tool:weather {"city": "Oslo"}]]'
    events = await collect(
        await client.responses.create(
            model="gpt-4o", input=message, conversation=conversation.id, tools=TOOLS, stream=True
        )
    )

    added = [e.item for e in events if e.type == "response.output_item.added"]
    assert [(item.type, item.name, item.arguments) for item in added] == [
        ("function_call", "lookup", ""),
        ("function_call", "weather", ""),
    ]
    arguments_done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [e.arguments for e in arguments_done] == ['{"q":"shoes"}', '{"city":"Oslo"}']
    assert all(not hasattr(e, "call_id") for e in arguments_done)
    calls = [e.item for e in events if e.type == "response.output_item.done"]
    assert [call.call_id for call in calls] == [item.call_id for item in added]
    assert events[-1].type == "response.completed"

    outputs = [
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "3 pairs of shoes"},
        {"type": "function_call_output", "call_id": calls[1].call_id, "output": "sunny"},
    ]
    final = await client.responses.create(
        model="gpt-4o", input=outputs, conversation=conversation.id, tools=TOOLS, stream=True
    )
    answer = next(e for e in await collect(final) if e.type == "response.completed").response
    assert answer.output_text == "lookup returned: 3 pairs of shoes\nweather returned: sunny"
    assert answer.conversation is not None and answer.conversation.id == conversation.id

    items = await client.conversations.items.list(conversation.id, order="asc")
    assert [item.type for item in items.data] == [
        "message",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
        "message",
    ]
    assert [getattr(item, "role", None) for item in items.data][::5] == ["user", "assistant"]


async def test_the_default_reply_counts_the_user_messages_it_sees(client: openai.AsyncOpenAI) -> None:
    conversation = await client.conversations.create(items=[{"type": "message", "role": "user", "content": "first"}])
    reply = await client.responses.create(model="gpt-4o", input="second", conversation=conversation.id)
    assert reply.output_text.startswith("Echo: second. This is message 2 of this conversation.")

    chained = await client.responses.create(model="gpt-4o", input="third", previous_response_id=reply.id)
    assert "This is message 3 of this conversation." in chained.output_text

    alone = await client.responses.create(model="gpt-4o", input="fourth")
    assert "This is message 1 of this conversation." in alone.output_text


async def test_the_stream_helper_accepts_the_events(client: openai.AsyncOpenAI) -> None:
    async with client.responses.stream(model="gpt-4o", input="[[tool:lookup {}]]", tools=TOOLS) as stream:
        final = await stream.get_final_response()
    assert [item.type for item in final.output] == ["function_call"]


async def test_a_second_response_while_one_is_in_progress_is_refused(
    client: openai.AsyncOpenAI, control: Control
) -> None:
    conversation = await client.conversations.create()
    stream = await client.responses.create(
        model="gpt-4o", input="hold on [[fault:stall]]", conversation=conversation.id, stream=True
    )
    first_id = None
    async for event in stream:
        if event.type == "response.created":
            first_id = event.response.id
        if event.type == "response.output_text.delta":
            break

    with pytest.raises(openai.BadRequestError) as refused:
        await client.responses.create(model="gpt-4o", input="again", conversation=conversation.id)
    assert refused.value.code == "conversation_locked"

    await stream.close()  # the client goes away: the response is cancelled and the lock released
    await control.requests(min_disconnected=1)
    assert first_id is not None
    assert (await client.responses.retrieve(first_id)).status == "cancelled"
    later = await client.responses.create(model="gpt-4o", input="now", conversation=conversation.id)
    assert later.status == "completed"
    assert "This is message 1 of this conversation." in later.output_text  # the cancelled turn left nothing


async def test_cancel_ends_a_live_stream(client: openai.AsyncOpenAI) -> None:
    stream = await client.responses.create(model="gpt-4o", input="[[fault:stall]]", stream=True)
    events = []
    async for event in stream:
        events.append(event)
        if event.type == "response.output_text.delta" and event.delta == "Echo: ":
            cancelled = await client.responses.cancel(events[0].response.id)
            assert cancelled.status == "cancelled"
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        await client.responses.cancel(events[0].response.id)


async def test_conversation_and_previous_response_id_exclude_each_other(client: openai.AsyncOpenAI) -> None:
    conversation = await client.conversations.create()
    first = await client.responses.create(model="gpt-4o", input="hi")
    with pytest.raises(openai.BadRequestError):
        await client.responses.create(
            model="gpt-4o", input="hi", conversation=conversation.id, previous_response_id=first.id
        )


async def test_unanswered_calls_block_the_conversation(client: openai.AsyncOpenAI) -> None:
    conversation = await client.conversations.create()
    called = await client.responses.create(
        model="gpt-4o", input="[[tool:lookup {}]]", conversation=conversation.id, tools=TOOLS
    )
    with pytest.raises(openai.BadRequestError) as refused:
        await client.responses.create(model="gpt-4o", input="never mind", conversation=conversation.id)
    assert f"No tool output found for function call {called.output[0].call_id}" in refused.value.message

    await client.conversations.items.create(
        conversation.id,
        items=[{"type": "function_call_output", "call_id": called.output[0].call_id, "output": "skipped"}],
    )
    answer = await client.responses.create(model="gpt-4o", input="never mind", conversation=conversation.id)
    assert "This is message 2 of this conversation." in answer.output_text

    with pytest.raises(openai.BadRequestError) as stray:
        await client.responses.create(
            model="gpt-4o", input=[{"type": "function_call_output", "call_id": "call_nope", "output": "x"}]
        )
    assert "No tool call found" in stray.value.message


async def test_tools_the_request_does_not_offer_are_not_called(client: openai.AsyncOpenAI) -> None:
    reply = await client.responses.create(model="gpt-4o", input="[[tool:nuke {}]] [[reply:ok]]", tools=TOOLS)
    assert reply.output_text == "The tool nuke is not available. ok"

    withheld = await client.responses.create(
        model="gpt-4o", input="[[tool:lookup {}]] [[reply:ok]]", tools=TOOLS, tool_choice="none"
    )
    assert withheld.output_text == "The tool lookup is not available. ok"


async def test_tool_loop_calls_again_after_every_output(client: openai.AsyncOpenAI) -> None:
    first = await client.responses.create(model="gpt-4o", input="[[tool-loop:lookup]]", tools=TOOLS)
    previous = first
    for round_no in (2, 3):
        call = previous.output[0]
        previous = await client.responses.create(
            model="gpt-4o",
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "again"}],
            previous_response_id=previous.id,
            tools=TOOLS,
        )
        assert previous.output[0].type == "function_call"
        assert previous.output[0].arguments == f'{{"round":{round_no}}}'


async def test_chat_style_tools_are_rejected_like_the_api_does(client: openai.AsyncOpenAI) -> None:
    nested: Any = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    with pytest.raises(openai.BadRequestError) as refused:
        await client.responses.create(model="gpt-4o", input="hi", tools=nested)
    assert refused.value.param == "tools[0].name"


async def test_conversation_objects(client: openai.AsyncOpenAI) -> None:
    conversation = await client.conversations.create(metadata={"visitor": "v1"})
    assert (await client.conversations.retrieve(conversation.id)).metadata == {"visitor": "v1"}
    deleted = await client.conversations.delete(conversation.id)
    assert deleted.deleted
    with pytest.raises(openai.NotFoundError):
        await client.conversations.retrieve(conversation.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.create(model="gpt-4o", input="hi", conversation=conversation.id)
