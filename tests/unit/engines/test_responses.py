"""ResponsesEngine against a scripted provider speaking the Responses API's SSE."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from proxy.engines.base import (
    AssistantProfile,
    EngineError,
    MessageCompleted,
    TextDelta,
    ToolFinished,
    ToolStarted,
    TurnFinished,
    Usage,
)
from proxy.engines.responses import NOT_RUN, ResponsesEngine
from tests.support.engines import ORDER_OUTPUT, run_turn

PROFILE = AssistantProfile(model="gpt-test", instructions="Be brief.")


def engine(client: Any, **profile: Any) -> ResponsesEngine:
    """The engine on a provider conversation (these tests script the provider's answers)."""
    base = {"model": "gpt-test", "instructions": "Be brief.", "context": "conversations"}
    return ResponsesEngine(client, AssistantProfile(**{**base, **profile}))


# -- text ------------------------------------------------------------------------------------------


async def test_a_text_turn_request(client, provider, rx, make_turn) -> None:
    """(The events of a text turn: test_engine_contract.py.)"""
    provider.stream(rx.text(["Hel", "lo!"], msg_id="msg_7", usage=(12, 3)))

    _, error = await run_turn(engine(client), make_turn("Hi there"))

    assert error is None
    [body] = provider.bodies("/responses")
    assert body["model"] == "gpt-test"
    assert body["instructions"] == "Be brief."
    assert body["conversation"] == "conv_1"
    assert body["stream"] is True
    assert body["input"] == [{"type": "message", "role": "user", "content": "Hi there"}]
    assert [t["name"] for t in body["tools"]] == ["lookup_order", "broken", "meet_a", "meet_b"]
    assert body["tools"][0]["type"] == "function" and "parameters" in body["tools"][0]
    assert "tool_choice" not in body and "temperature" not in body


async def test_no_tools_omits_tools_and_temperature_is_sent_when_set(client, provider, rx, make_turn) -> None:
    provider.stream(rx.text(["ok"]))

    await run_turn(engine(client, temperature=0.2), make_turn(tools=()))

    [body] = provider.bodies("/responses")
    assert "tools" not in body and "tool_choice" not in body
    assert body["temperature"] == 0.2


async def test_unknown_events_are_ignored(client, provider, rx, make_turn) -> None:
    events = rx.text(["ok"])
    events.insert(1, {"type": "response.something_new", "sequence_number": 99, "x": 1})
    provider.stream(events)

    got, error = await run_turn(engine(client), make_turn())

    assert error is None and got[0] == TextDelta("msg_1", "ok")


async def test_deltas_without_an_item_id_belong_to_the_open_message(client, provider, rx, make_turn) -> None:
    events = rx.text(["Hel", "", "lo"], msg_id="msg_3")
    for event in events:
        if event["type"] == "response.output_text.delta":
            del event["item_id"]
    provider.stream(events)

    got, error = await run_turn(engine(client), make_turn())

    assert error is None
    assert got[:3] == [TextDelta("msg_3", "Hel"), TextDelta("msg_3", "lo"), MessageCompleted("msg_3", "Hello")]


async def test_refusals_stream_and_complete_like_text(client, provider, rx, make_turn) -> None:
    refusal = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "refusal", "refusal": "I can't help with that."}],
    }
    done = rx.response("resp_1", "completed", [refusal], (10, 5))
    provider.stream(
        [
            rx.created("resp_1"),
            rx.ev("response.output_item.added", output_index=0, item=dict(refusal, content=[], status="in_progress")),
            rx.ev(
                "response.refusal.delta",
                item_id="msg_1",
                output_index=0,
                content_index=0,
                delta="I can't help with that.",
            ),
            rx.ev("response.output_item.done", output_index=0, item=refusal),
            rx.ev("response.completed", response=done),
        ]
    )

    got, error = await run_turn(engine(client), make_turn())

    assert error is None
    no = "I can't help with that."
    assert got[:2] == [TextDelta("msg_1", no), MessageCompleted("msg_1", no)]


async def test_missing_usage_counts_zero(client, provider, rx, make_turn) -> None:
    events = rx.text(["ok"])
    events[-1]["response"].pop("usage")
    provider.stream(events)

    got, error = await run_turn(engine(client), make_turn())

    assert error is None and got[-1] == TurnFinished(Usage(0, 0))


# -- tools -----------------------------------------------------------------------------------------


async def test_a_tool_round_sends_only_the_outputs_into_the_conversation(client, provider, rx, make_turn) -> None:
    """(Events and usage of a tool round: test_engine_contract.py.)"""
    provider.stream(rx.calls(rx.call("call_1", "lookup_order", '{"order":"A1"}'), usage=(20, 7)))
    provider.stream(rx.text(["Shipped."], resp_id="resp_2", msg_id="msg_2", usage=(30, 4)))

    _, error = await run_turn(engine(client), make_turn("Where is A1?"))

    assert error is None
    first, second = provider.bodies("/responses")
    assert second["input"] == [{"type": "function_call_output", "call_id": "call_1", "output": ORDER_OUTPUT}]
    for body in (first, second):  # nothing persists provider-side but the conversation
        assert body["instructions"] == "Be brief."
        assert body["conversation"] == "conv_1"
        assert len(body["tools"]) == 4
        assert "tool_choice" not in body


async def test_calls_listed_only_in_the_completed_response_are_run(client, provider, rx, make_turn) -> None:
    call = rx.call("call_1", "lookup_order", '{"order":"A1"}')
    done = rx.response("resp_1", "completed", [call], (20, 7))
    provider.stream([rx.created("resp_1"), rx.ev("response.completed", response=done)])
    provider.stream(rx.text(["Shipped."], resp_id="resp_2"))

    events, error = await run_turn(engine(client), make_turn())

    assert error is None
    assert events[:2] == [ToolStarted("call_1", "lookup_order"), ToolFinished("call_1", "lookup_order", True)]
    assert provider.bodies("/responses")[1]["input"][0]["output"] == ORDER_OUTPUT


async def test_calls_past_the_bound_fail_and_are_answered_in_the_conversation(client, provider, rx, make_turn) -> None:
    provider.stream(rx.calls(rx.call("call_1", "lookup_order", '{"order":"A1"}')))
    provider.stream(rx.calls(rx.call("call_2", "lookup_order", '{"order":"A2"}'), resp_id="resp_2"))
    provider.json({"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False})

    events, error = await run_turn(engine(client, max_tool_rounds=1), make_turn())

    assert error is not None and error.code == "tool_rounds_exceeded"
    assert ToolStarted("call_2", "lookup_order") not in events  # never run
    # the open call would otherwise make the conversation refuse the next message
    [items] = provider.bodies("/conversations/conv_1/items")
    assert items == {"items": [{"type": "function_call_output", "call_id": "call_2", "output": NOT_RUN}]}


async def test_zero_rounds_forbids_tools_from_the_start(client, provider, rx, make_turn) -> None:
    provider.stream(rx.text(["Hi."]))

    await run_turn(engine(client, max_tool_rounds=0), make_turn())

    assert provider.bodies("/responses")[0]["tool_choice"] == "none"


# -- failures --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "type_", "expected", "retryable"),
    [
        # (the codes every engine shares: test_engine_contract.py)
        (400, "invalid_value", "invalid_request_error", "upstream_bad_request", False),
    ],
)
async def test_http_errors_are_mapped(client, provider, make_turn, status, code, type_, expected, retryable) -> None:
    provider.error(status, "provider says no", code=code, type_=type_)

    events, error = await run_turn(engine(client), make_turn())

    assert events == []
    assert error is not None and (error.code, error.retryable) == (expected, retryable)


async def test_conversation_locked_is_a_retryable_conflict(client, provider, make_turn) -> None:
    provider.error(400, "Another response is in progress for this conversation.", code="conversation_locked")

    _, error = await run_turn(engine(client), make_turn())

    assert error is not None
    assert (error.code, error.retryable, error.status) == ("upstream_bad_request", True, 409)
    assert "another reply is still running" in error.message.lower()


async def test_stream_broken_mid_way_is_a_cut(client, provider, rx, make_turn) -> None:
    events = rx.text(["Hel", "lo"])[:4]  # created .. first delta
    body = provider.stream(events, error=httpx2.RemoteProtocolError("peer closed connection"))

    got, error = await run_turn(engine(client), make_turn())

    assert got == [TextDelta("msg_1", "Hel")]
    assert error is not None and (error.code, error.retryable) == ("upstream_stream_cut", True)
    assert body.closed


async def test_stream_ending_without_terminal_event_is_a_cut(client, provider, rx, make_turn) -> None:
    provider.stream(rx.text(["Hello"])[:-1])

    _, error = await run_turn(engine(client), make_turn())

    assert error is not None and error.code == "upstream_stream_cut"


@pytest.mark.parametrize(
    ("code", "expected", "retryable"),
    [
        ("server_error", "upstream_failed", True),
        ("rate_limit_exceeded", "upstream_rate_limited", True),
        ("invalid_prompt", "upstream_failed", False),
    ],
)
async def test_response_failed(client, provider, rx, make_turn, code, expected, retryable) -> None:
    provider.stream(rx.failed(code, "the model broke"))

    _, error = await run_turn(engine(client), make_turn())

    assert error is not None
    assert (error.code, error.retryable, error.message) == (expected, retryable, "the model broke")


async def test_response_failed_without_details_is_a_retryable_failure(client, provider, rx, make_turn) -> None:
    failed = rx.response("resp_1", "failed", [], None)  # no error object
    provider.stream([rx.created("resp_1"), rx.ev("response.failed", response=failed)])

    _, error = await run_turn(engine(client), make_turn())

    assert error is not None and (error.code, error.retryable) == ("upstream_failed", True)


async def test_response_incomplete_keeps_the_text_and_fails(client, provider, rx, make_turn) -> None:
    provider.stream(rx.incomplete("max_output_tokens", ["Long ans"]))

    events, error = await run_turn(engine(client), make_turn())

    assert events[-1] == MessageCompleted("msg_1", "Long ans")
    assert error is not None and error.code == "upstream_failed" and "output limit" in error.message


async def test_error_event_is_mapped(client, provider, rx, make_turn) -> None:
    provider.stream([rx.created("resp_1"), rx.error("insufficient_quota", "You exceeded your quota.")])

    _, error = await run_turn(engine(client), make_turn())

    assert error is not None and error.code == "upstream_quota"


async def test_error_event_with_a_nested_error_is_mapped(client, provider, rx, make_turn) -> None:
    nested = {"type": "error", "error": {"type": "requests", "code": "rate_limit_exceeded", "message": "Slow down."}}
    provider.stream([rx.created("resp_1"), nested])

    _, error = await run_turn(engine(client), make_turn())

    assert error is not None and (error.code, error.message) == ("upstream_rate_limited", "Slow down.")


async def test_failure_in_the_follow_up_request_answers_the_open_calls(client, provider, rx, make_turn) -> None:
    provider.stream(rx.calls(rx.call("call_1", "lookup_order", '{"order":"A1"}')))
    provider.error(500, "overloaded", type_="server_error")
    provider.json({"object": "list", "data": [], "has_more": False})

    _, error = await run_turn(engine(client), make_turn())

    assert error is not None and error.code == "upstream_unavailable"
    [items] = provider.bodies("/conversations/conv_1/items")
    assert items["items"] == [{"type": "function_call_output", "call_id": "call_1", "output": ORDER_OUTPUT}]


# -- stopping early --------------------------------------------------------------------------------


async def test_stopping_during_tools_answers_the_open_calls(client, provider, rx, make_turn) -> None:
    provider.stream(rx.calls(rx.call("call_1", "lookup_order", '{"order":"A1"}')))
    provider.json({"object": "list", "data": [], "has_more": False})
    turn_events = engine(client).stream_turn(make_turn())

    assert await anext(turn_events) == ToolStarted("call_1", "lookup_order")
    await turn_events.aclose()

    [items] = provider.bodies("/conversations/conv_1/items")
    assert items["items"] == [{"type": "function_call_output", "call_id": "call_1", "output": NOT_RUN}]
    assert len(provider.bodies("/responses")) == 1


# -- conversations ---------------------------------------------------------------------------------


async def test_create_conversation_returns_its_id(client, provider) -> None:
    provider.json({"id": "conv_abc", "object": "conversation", "created_at": 1, "metadata": {}})

    assert await engine(client).create_conversation() == "conv_abc"
    assert provider.seen[0].method == "POST" and provider.seen[0].path == "/v1/conversations"


async def test_delete_conversation_ignores_missing_ones(client, provider) -> None:
    provider.json({"id": "conv_abc", "object": "conversation.deleted", "deleted": True})
    provider.error(404, "No conversation found", code="not_found")

    await engine(client).delete_conversation("conv_abc")
    await engine(client).delete_conversation("conv_gone")

    assert [(s.method, s.path) for s in provider.seen] == [
        ("DELETE", "/v1/conversations/conv_abc"),
        ("DELETE", "/v1/conversations/conv_gone"),
    ]


async def test_delete_conversation_reports_other_failures(client, provider) -> None:
    provider.error(401, "bad key", code="invalid_api_key")

    with pytest.raises(EngineError) as caught:
        await engine(client).delete_conversation("conv_abc")

    assert caught.value.code == "upstream_auth"
