"""ChatEngine against a scripted OpenAI-compatible server streaming chat.completion.chunk SSE."""

from __future__ import annotations

from typing import Any

import httpx2

from proxy.engines.base import (
    AssistantProfile,
    HistoryMessage,
    MessageCompleted,
    TextDelta,
    ToolFinished,
    ToolStarted,
    TurnFinished,
    Usage,
)
from proxy.engines.chat import ChatEngine
from tests.support.engines import ORDER_OUTPUT, run_turn

HISTORY = (
    HistoryMessage("user", "one"),
    HistoryMessage("assistant", "two"),
    HistoryMessage("user", "three"),
    HistoryMessage("assistant", "four"),
)


def engine(client: Any, **profile: Any) -> ChatEngine:
    return ChatEngine(client, AssistantProfile(**{"model": "llama-test", "instructions": "Be brief.", **profile}))


# -- text and history ------------------------------------------------------------------------------


async def test_a_text_turn_request(client, provider, cx, make_turn) -> None:
    """(The events of a text turn: test_engine_contract.py.)"""
    provider.stream(cx.text(["Hel", "lo!"], id="chatcmpl-9", usage=(12, 3)), done=True)

    _, error = await run_turn(engine(client), make_turn("Hi there", conversation_id=None))

    assert error is None
    [body] = provider.bodies("/chat/completions")
    assert body["model"] == "llama-test"
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert [t["function"]["name"] for t in body["tools"]] == ["lookup_order", "broken", "meet_a", "meet_b"]
    assert "tool_choice" not in body and "temperature" not in body


async def test_the_history_goes_out_as_given(client, provider, cx, make_turn) -> None:
    provider.stream(cx.text(["ok"]), done=True)
    eng = engine(client, history_window=2)

    await run_turn(eng, make_turn("five", history=HISTORY[-eng.history_window() :]))

    [body] = provider.bodies("/chat/completions")
    assert eng.history_window() == 2  # the turn runner cuts Turn.history to it; the engine sends it all
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "three"},
        {"role": "assistant", "content": "four"},
        {"role": "user", "content": "five"},
    ]


async def test_zero_window_and_no_instructions_send_only_the_message(client, provider, cx, make_turn) -> None:
    provider.stream(cx.text(["ok"]), done=True)
    eng = engine(client, history_window=0, instructions="", temperature=0.3)

    await run_turn(eng, make_turn("five"))

    [body] = provider.bodies("/chat/completions")
    assert eng.history_window() == 0
    assert body["messages"] == [{"role": "user", "content": "five"}]
    assert body["temperature"] == 0.3


async def test_no_tools_omits_tools(client, provider, cx, make_turn) -> None:
    provider.stream(cx.text(["ok"]), done=True)

    await run_turn(engine(client), make_turn(tools=()))

    [body] = provider.bodies("/chat/completions")
    assert "tools" not in body and "tool_choice" not in body


async def test_missing_usage_counts_zero(client, provider, cx, make_turn) -> None:
    provider.stream(cx.text(["ok"], usage=None), done=True)

    events, _ = await run_turn(engine(client), make_turn())

    assert events[-1] == TurnFinished(Usage(0, 0))


async def test_the_provider_keeps_no_conversation(client, provider) -> None:
    eng = engine(client)

    assert await eng.create_conversation() is None
    await eng.delete_conversation(None)
    assert provider.seen == []


# -- tools -----------------------------------------------------------------------------------------


async def test_a_tool_round_resends_the_messages_with_the_call_and_its_output(client, provider, cx, make_turn) -> None:
    """(Events and usage of a tool round: test_engine_contract.py.)"""
    provider.stream(cx.calls(("call_1", "lookup_order", '{"order":"A1"}'), usage=(20, 7)), done=True)
    provider.stream(cx.text(["Shipped."], id="chatcmpl-2", usage=(30, 4)), done=True)

    events, error = await run_turn(engine(client), make_turn("Where is A1?"))

    assert error is None and ToolFinished("call_1", "lookup_order", True) in events
    first, second = provider.bodies("/chat/completions")
    assert second["messages"][:2] == first["messages"]
    assert second["messages"][2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup_order", "arguments": '{"order":"A1"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": ORDER_OUTPUT},
    ]
    assert len(second["tools"]) == 4 and "tool_choice" not in second


async def test_parallel_calls_with_interleaved_fragments(client, provider, cx, make_turn) -> None:
    chunks = [
        cx.chunk(role="assistant"),
        cx.chunk(tool_calls=[cx.call_start(0, "call_a", "meet_a"), cx.call_start(1, "call_b", "meet_b")]),
        cx.chunk(tool_calls=[cx.call_args(0, "{"), cx.call_args(1, '{"x"')]),
        cx.chunk(tool_calls=[cx.call_args(1, ":1}")]),
        cx.chunk(tool_calls=[cx.call_args(0, "}")]),
        cx.chunk(finish="tool_calls"),
    ]
    provider.stream(chunks, done=True)
    provider.stream(cx.text(["Both done."], id="chatcmpl-2"), done=True)

    events, error = await run_turn(engine(client), make_turn())

    assert error is None
    assert events[:4] == [
        ToolStarted("call_a", "meet_a"),
        ToolStarted("call_b", "meet_b"),
        ToolFinished("call_a", "meet_a", True),
        ToolFinished("call_b", "meet_b", True),
    ]
    messages = provider.bodies("/chat/completions")[1]["messages"]
    assert [c["function"]["arguments"] for c in messages[2]["tool_calls"]] == ["{}", '{"x":1}']
    assert messages[3:] == [
        {"role": "tool", "tool_call_id": "call_a", "content": "met b"},
        {"role": "tool", "tool_call_id": "call_b", "content": "met a"},
    ]


async def test_calls_all_numbered_zero_are_kept_apart(client, provider, cx, make_turn) -> None:
    provider.stream(
        [
            cx.chunk(
                tool_calls=[
                    dict(
                        cx.call_start(0, "call_a", "lookup_order"),
                        function={"name": "lookup_order", "arguments": '{"order":"A1"}'},
                    )
                ]
            ),
            cx.chunk(
                tool_calls=[dict(cx.call_start(0, "call_b", "broken"), function={"name": "broken", "arguments": "{}"})]
            ),
            cx.chunk(finish="stop"),  # some servers say "stop" even when they call tools
        ],
        done=True,
    )
    provider.stream(cx.text(["ok"], id="chatcmpl-2"), done=True)

    events, error = await run_turn(engine(client), make_turn())

    assert error is None
    assert events[:4] == [
        ToolStarted("call_a", "lookup_order"),
        ToolStarted("call_b", "broken"),
        ToolFinished("call_a", "lookup_order", True),
        ToolFinished("call_b", "broken", False),
    ]


async def test_text_before_calls_is_its_own_message_with_a_distinct_id(client, provider, cx, make_turn) -> None:
    chunks = [cx.chunk("Let me check."), *cx.calls(("call_1", "lookup_order", '{"order":"A1"}'))]
    provider.stream(chunks, done=True)
    provider.stream(cx.text(["Shipped."]), done=True)  # same chunk id as the first completion

    events, _ = await run_turn(engine(client), make_turn())

    completed = [e for e in events if isinstance(e, MessageCompleted)]
    assert [c.content for c in completed] == ["Let me check.", "Shipped."]
    assert completed[0].message_id == "chatcmpl-1" and completed[1].message_id != "chatcmpl-1"
    assert provider.bodies("/chat/completions")[1]["messages"][2]["content"] == "Let me check."


# -- how replies end -------------------------------------------------------------------------------


async def test_length_keeps_the_text_then_fails(client, provider, cx, make_turn) -> None:
    provider.stream(cx.text(["Long ans"], finish="length"), done=True)

    events, error = await run_turn(engine(client), make_turn())

    assert events[-1] == MessageCompleted("chatcmpl-1", "Long ans")
    assert error is not None and error.code == "upstream_failed" and "length limit" in error.message


async def test_content_filter_fails_without_completing_the_message(client, provider, cx, make_turn) -> None:
    provider.stream(cx.text(["Well"], finish="content_filter"), done=True)

    events, error = await run_turn(engine(client), make_turn())

    assert events == [TextDelta("chatcmpl-1", "Well")]
    assert error is not None and error.code == "upstream_failed" and "content filter" in error.message


async def test_stream_ending_without_finish_reason_is_a_cut(client, provider, cx, make_turn) -> None:
    provider.stream(cx.text(["Hel", "lo"])[:2], done=True)

    events, error = await run_turn(engine(client), make_turn())

    assert events == [TextDelta("chatcmpl-1", "Hel")]
    assert error is not None and (error.code, error.retryable) == ("upstream_stream_cut", True)


async def test_stream_broken_mid_way_is_a_cut(client, provider, cx, make_turn) -> None:
    body = provider.stream(cx.text(["Hel", "lo"])[:2], error=httpx2.RemoteProtocolError("peer closed connection"))

    _, error = await run_turn(engine(client), make_turn())

    assert error is not None and error.code == "upstream_stream_cut"
    assert body.closed


async def test_error_payload_inside_the_stream_is_mapped(client, provider, cx, make_turn) -> None:
    error_payload = {"error": {"message": "overloaded", "type": "server_error", "code": "server_error"}}
    provider.stream([cx.chunk("Hel"), error_payload])

    _, error = await run_turn(engine(client), make_turn())

    assert error is not None and (error.code, error.retryable, error.message) == ("upstream_failed", True, "overloaded")


async def test_a_chunk_with_values_of_types_no_chunk_has_is_a_malformed_event(client, provider, cx, make_turn) -> None:
    provider.stream([cx.chunk("Hel"), {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": 5}}]}])

    events, error = await run_turn(engine(client), make_turn())

    assert events == [TextDelta("chatcmpl-1", "Hel")]
    assert error is not None and (error.code, error.message) == (
        "upstream_failed",
        "The AI provider sent a malformed event.",
    )


async def test_fields_a_chunk_may_leave_out_or_set_to_null_are_read_as_absent(client, provider, cx, make_turn) -> None:
    provider.stream(
        [
            {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": None, "finish_reason": None}]},
            {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": None, "refusal": "No."}}]},
            {"id": "chatcmpl-1", "choices": None, "usage": None, "extra": {"unknown": [1, 2]}},
            {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ]
    )

    events, error = await run_turn(engine(client), make_turn())

    assert error is None
    assert events[0] == TextDelta("chatcmpl-1", "No.")


async def test_an_error_payload_read_with_text_before_it_fails_the_turn_after_that_text(
    client, provider, cx, make_turn
) -> None:
    error_payload = {"error": {"message": "overloaded", "type": "server_error", "code": "server_error"}}
    provider.stream([cx.chunk("Hel"), cx.chunk("lo"), error_payload, cx.chunk("never")])  # one body: one read

    events, error = await run_turn(engine(client), make_turn())

    assert events == [TextDelta("chatcmpl-1", "Hel"), TextDelta("chatcmpl-1", "lo")]
    assert error is not None and error.message == "overloaded"
