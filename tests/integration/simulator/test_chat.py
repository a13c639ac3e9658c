"""Chat Completions through ``client.chat.completions``."""

from __future__ import annotations

from typing import Any

import openai
import pytest

pytestmark = pytest.mark.integration

TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "search_products", "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "capture_lead", "parameters": {"type": "object", "properties": {}}}},
]


async def test_streamed_tool_calls_then_usage_then_done(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": '[[tool:search_products {"query": "red running shoes"}]] [[tool:capture_lead {}]]',
            }
        ],
        tools=TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    assert chunks[0].choices[0].delta.role == "assistant"
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks[:-2]:
        for delta in chunk.choices[0].delta.tool_calls or ():
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            call["name"] += delta.function.name or "" if delta.function else ""
            call["arguments"] += delta.function.arguments or "" if delta.function else ""
    assert [(c["name"], c["arguments"]) for c in calls.values()] == [
        ("search_products", '{"query":"red running shoes"}'),
        ("capture_lead", "{}"),
    ]
    assert all(c["id"].startswith("call_") for c in calls.values())
    assert chunks[-2].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4  # three argument fragments and one
    assert all(chunk.usage is None for chunk in chunks[:-1])


async def test_tool_messages_are_quoted_and_history_counted(client: openai.AsyncOpenAI) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "You sell shoes."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": 'I am looking for shoes [[tool:search_products {"query": "shoes"}]]'},
    ]
    first = await client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("search_products", '{"query":"shoes"}')

    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '[{"name": "Runner 2"}]'},
    ]
    second = await client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
    assert second.choices[0].message.content == 'search_products returned: [{"name": "Runner 2"}]'
    assert second.choices[0].finish_reason == "stop"

    plain = await client.chat.completions.create(
        model="gpt-4o", messages=[*messages[:4], {"role": "user", "content": "ok"}]
    )
    assert plain.choices[0].message.content.startswith("Echo: ok. This is message 3 of this conversation.")


async def test_streamed_text(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "[[reply:Short and sweet.]]"}], stream=True
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Short and sweet."
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(chunk.usage is None for chunk in chunks)


async def test_message_order_is_checked_like_the_api(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as orphan:
        await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "tool", "tool_call_id": "call_1", "content": "x"}]
        )
    assert "must be a response to a preceeding message with 'tool_calls'" in orphan.value.message

    unanswered: list[Any] = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "user", "content": "hello?"},
    ]
    with pytest.raises(openai.BadRequestError) as missing:
        await client.chat.completions.create(model="gpt-4o", messages=unanswered)
    assert "did not have response messages: call_1" in missing.value.message


async def test_failures_inside_a_stream_raise_api_errors(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "[[fault:failed]]"}], stream=True
    )
    received = []
    with pytest.raises(openai.APIError) as failure:
        async for chunk in stream:
            received.append(chunk)
    assert failure.value.code == "server_error"
    assert len(received) == 4  # the role chunk and three deltas
