"""What the chat and responses engines both keep against a scripted provider: a tool round's events
and summed usage, calls run concurrently and reported in order, a failing tool's error sent back,
the bound on tool rounds, the provider's HTTP errors mapped to the same codes, and a turn closed or
cancelled early closing its HTTP stream.

(The assistants engine is scripted through its own SDK calls in test_assistants.py; the contract
for all three over real HTTP is tests/integration/engines/test_engine_contract.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import pytest

from proxy.engines.base import (
    AssistantProfile,
    Engine,
    MessageCompleted,
    TextDelta,
    ToolFinished,
    ToolStarted,
    TurnFinished,
    Usage,
)
from proxy.engines.chat import ChatEngine
from proxy.engines.responses import ResponsesEngine
from tests.support.engines import ORDER_OUTPUT, run_turn
from tests.unit.engines.conftest import ChatChunks, ResponsesEvents

Call = tuple[str, str, str]  # call id, tool name, arguments


@dataclass(frozen=True)
class Wire:
    """One engine and its provider's wire format, as the scripted provider speaks it."""

    build: Callable[[Any, int], Engine]  # the engine on a client, with max_tool_rounds
    path: str
    done: bool  # the stream ends with ``data: [DONE]``
    text: Callable[[ChatChunks, ResponsesEvents, list[str], int, tuple[int, int]], list[dict[str, Any]]]
    calls: Callable[[ChatChunks, ResponsesEvents, list[Call], int, tuple[int, int]], list[dict[str, Any]]]
    message_id: Callable[[int], str]  # of the text of round n
    outputs: Callable[[dict[str, Any]], list[tuple[str, str]]]  # the (call id, output) pairs a request sends
    opening: Callable[[ChatChunks, ResponsesEvents], list[dict[str, Any]]]  # ``Hel``, then nothing

    def script(self, provider: Any, events: list[dict[str, Any]]) -> None:
        provider.stream(events, done=self.done)


def _chat(client: Any, rounds: int) -> Engine:
    return ChatEngine(client, AssistantProfile(model="gpt-test", instructions="Be brief.", max_tool_rounds=rounds))


def _responses(client: Any, rounds: int) -> Engine:
    return ResponsesEngine(client, AssistantProfile(model="gpt-test", context="conversations", max_tool_rounds=rounds))


WIRES = {
    "chat": Wire(
        _chat,
        "/chat/completions",
        True,
        lambda cx, rx, pieces, n, usage: cx.text(pieces, id=f"chatcmpl-{n}", usage=usage),
        lambda cx, rx, calls, n, usage: cx.calls(*calls, id=f"chatcmpl-{n}", usage=usage),
        lambda n: f"chatcmpl-{n}",
        lambda body: [(m["tool_call_id"], m["content"]) for m in body["messages"] if m["role"] == "tool"],
        lambda cx, rx: cx.text(["Hel", "lo"])[:2],
    ),
    "responses": Wire(
        _responses,
        "/responses",
        False,
        lambda cx, rx, pieces, n, usage: rx.text(pieces, resp_id=f"resp_{n}", msg_id=f"msg_{n}", usage=usage),
        lambda cx, rx, calls, n, usage: rx.calls(*(rx.call(*c) for c in calls), resp_id=f"resp_{n}", usage=usage),
        lambda n: f"msg_{n}",
        lambda body: [(i["call_id"], i["output"]) for i in body["input"] if i["type"] == "function_call_output"],
        lambda cx, rx: rx.text(["Hel", "lo"])[:5],
    ),
}


@pytest.fixture(params=list(WIRES))
def wire(request: pytest.FixtureRequest) -> Wire:
    return WIRES[request.param]


# -- text and tool rounds --------------------------------------------------------------------------


async def test_a_text_turn_yields_deltas_the_message_and_usage(wire, client, provider, cx, rx, make_turn) -> None:
    wire.script(provider, wire.text(cx, rx, ["Hel", "lo!"], 7, (12, 3)))

    events, error = await run_turn(wire.build(client, 8), make_turn("Hi there"))

    assert error is None
    assert events == [
        TextDelta(wire.message_id(7), "Hel"),
        TextDelta(wire.message_id(7), "lo!"),
        MessageCompleted(wire.message_id(7), "Hello!"),
        TurnFinished(Usage(12, 3)),
    ]


async def test_a_tool_round_yields_its_events_and_sums_the_usage(wire, client, provider, cx, rx, make_turn) -> None:
    wire.script(provider, wire.calls(cx, rx, [("call_1", "lookup_order", '{"order":"A1"}')], 1, (20, 7)))
    wire.script(provider, wire.text(cx, rx, ["Shipped."], 2, (30, 4)))

    events, error = await run_turn(wire.build(client, 8), make_turn("Where is A1?"))

    assert error is None
    assert events == [
        ToolStarted("call_1", "lookup_order"),
        ToolFinished("call_1", "lookup_order", True),
        TextDelta(wire.message_id(2), "Shipped."),
        MessageCompleted(wire.message_id(2), "Shipped."),
        TurnFinished(Usage(50, 11)),
    ]
    first, second = provider.bodies(wire.path)
    assert wire.outputs(second) == [("call_1", ORDER_OUTPUT)]
    assert "tool_choice" not in first and "tool_choice" not in second


async def test_parallel_calls_run_concurrently_and_report_in_order(wire, client, provider, cx, rx, make_turn) -> None:
    wire.script(provider, wire.calls(cx, rx, [("call_a", "meet_a", "{}"), ("call_b", "meet_b", "{}")], 1, (20, 7)))
    wire.script(provider, wire.text(cx, rx, ["Both done."], 2, (10, 5)))

    events, error = await run_turn(wire.build(client, 8), make_turn())

    assert error is None
    assert events[:4] == [
        ToolStarted("call_a", "meet_a"),
        ToolStarted("call_b", "meet_b"),
        ToolFinished("call_a", "meet_a", True),  # each finishes only while the other runs
        ToolFinished("call_b", "meet_b", True),
    ]
    assert wire.outputs(provider.bodies(wire.path)[1]) == [("call_a", "met b"), ("call_b", "met a")]


async def test_a_failing_tool_is_not_ok_and_its_error_goes_back(wire, client, provider, cx, rx, make_turn) -> None:
    wire.script(provider, wire.calls(cx, rx, [("call_1", "broken", "{}")], 1, (20, 7)))
    wire.script(provider, wire.text(cx, rx, ["Sorry."], 2, (10, 5)))

    events, error = await run_turn(wire.build(client, 8), make_turn())

    assert error is None and ToolFinished("call_1", "broken", False) in events
    assert wire.outputs(provider.bodies(wire.path)[1]) == [("call_1", "Error: the order system is down")]


async def test_the_last_allowed_round_forbids_tools(wire, client, provider, cx, rx, make_turn) -> None:
    wire.script(provider, wire.calls(cx, rx, [("call_1", "lookup_order", '{"order":"A1"}')], 1, (20, 7)))
    wire.script(provider, wire.text(cx, rx, ["Shipped."], 2, (10, 5)))

    events, error = await run_turn(wire.build(client, 1), make_turn())

    assert error is None and isinstance(events[-1], TurnFinished)
    first, second = provider.bodies(wire.path)
    assert "tool_choice" not in first
    assert second["tool_choice"] == "none" and len(second["tools"]) == 4


async def test_calls_past_the_bound_are_not_run(wire, client, provider, cx, rx, make_turn) -> None:
    wire.script(provider, wire.calls(cx, rx, [("call_1", "lookup_order", '{"order":"A1"}')], 1, (20, 7)))
    wire.script(provider, wire.calls(cx, rx, [("call_2", "lookup_order", '{"order":"A2"}')], 2, (20, 7)))
    # (the responses engine answers the call left open in its conversation: test_responses.py)
    provider.json({"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False})

    events, error = await run_turn(wire.build(client, 1), make_turn())

    assert error is not None and error.code == "tool_rounds_exceeded"
    assert ToolStarted("call_2", "lookup_order") not in events


# -- failures and stopping -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "type_", "expected", "retryable"),
    [
        (401, "invalid_api_key", "invalid_request_error", "upstream_auth", False),
        (404, "model_not_found", "invalid_request_error", "upstream_not_found", False),
        (429, "rate_limit_exceeded", "requests", "upstream_rate_limited", True),
        (429, "insufficient_quota", "insufficient_quota", "upstream_quota", False),
        (500, None, "server_error", "upstream_unavailable", True),
    ],
)
async def test_http_errors_are_mapped(
    wire, client, provider, make_turn, status, code, type_, expected, retryable
) -> None:
    provider.error(status, "provider says no", code=code, type_=type_)

    events, error = await run_turn(wire.build(client, 8), make_turn())

    assert events == []
    assert error is not None and (error.code, error.retryable) == (expected, retryable)


async def test_connection_error_is_unavailable(wire, client, provider, make_turn) -> None:
    provider.raise_(httpx2.ConnectError("connection refused"))

    _, error = await run_turn(wire.build(client, 8), make_turn())

    assert error is not None and (error.code, error.retryable) == ("upstream_unavailable", True)


async def test_closing_the_generator_closes_the_http_stream(wire, client, provider, cx, rx, make_turn) -> None:
    body = provider.stream(wire.opening(cx, rx), hang=True)
    turn_events = wire.build(client, 8).stream_turn(make_turn())

    assert await anext(turn_events) == TextDelta(wire.message_id(1), "Hel")
    await turn_events.aclose()

    assert body.closed


async def test_cancelled_consumer_still_closes_the_http_stream(wire, client, provider, cx, rx, make_turn) -> None:
    body = provider.stream(wire.opening(cx, rx), hang=True)
    first = anyio.Event()

    async def consume() -> None:
        async with aclosing(wire.build(client, 8).stream_turn(make_turn())) as events:
            async for _ in events:
                first.set()
                await anyio.Event().wait()  # busy forwarding the event when the visitor leaves

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await first.wait()
        tg.cancel_scope.cancel()  # aclose() now runs inside a cancelled scope

    assert body.closed
