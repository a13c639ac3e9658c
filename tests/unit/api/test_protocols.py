"""The AI SDK and AG-UI mappings of a run's events, event by event and batch by batch (no server, no Node)."""

from __future__ import annotations

import json
from typing import Any

from proxy.api.protocols.agui import AguiMapper
from proxy.api.protocols.ai_sdk import UIMessageMapper
from proxy.turns.events import Event, joined_deltas

RUN = "run_1"


def events(*items: tuple[str, dict[str, Any]]) -> list[Event]:
    return [Event.make(RUN, seq, name, data) for seq, (name, data) in enumerate(items, start=1)]


STARTED = ("run.started", {"thread_id": "thr_1", "run_id": RUN})
DONE = ("done", {})
COMPLETED = ("run.completed", {"run_id": RUN, "usage": {"input_tokens": 3, "output_tokens": 2}})


def delta(text: str) -> tuple[str, dict[str, Any]]:
    return ("message.delta", {"message_id": "msg_1", "delta": text})


def ui_chunks(*items: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    mapper = UIMessageMapper()
    return [chunk for event in events(*items) for chunk in mapper.chunks(event)]


def agui_events(*items: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    mapper = AguiMapper(thread_id="client-thread", run_id="client-run")
    return [out for event in events(*items) for out in mapper.events(event)]


def kinds(chunks: list[dict[str, Any]]) -> list[str]:
    return [chunk["type"] for chunk in chunks]


# -- the AI SDK's UI message stream ------------------------------------------------------------------


def test_ui_reply() -> None:
    completed = ("message.completed", {"message_id": "msg_1", "content": "Hi there"})
    chunks = ui_chunks(STARTED, delta("Hi "), delta("there"), completed, COMPLETED, DONE)

    assert kinds(chunks) == ["start", "text-start", "text-delta", "text-delta", "text-end", "finish"]
    assert chunks[0] == {"type": "start", "messageId": RUN, "messageMetadata": {"threadId": "thr_1", "runId": RUN}}
    assert chunks[-1]["finishReason"] == "stop"
    assert chunks[-1]["messageMetadata"]["usage"] == {"input_tokens": 3, "output_tokens": 2}


def test_ui_message_that_came_whole() -> None:
    """The budget's notice has no deltas of its own."""
    chunks = ui_chunks(STARTED, ("message.completed", {"message_id": "msg_b", "content": "Leave your email."}), DONE)

    assert kinds(chunks) == ["start", "text-start", "text-delta", "text-end", "finish"]
    assert chunks[2]["delta"] == "Leave your email."


def test_ui_tools_and_their_events() -> None:
    chunks = ui_chunks(
        STARTED,
        ("tool.started", {"run_id": RUN, "call_id": "c1", "name": "capture_lead"}),
        ("lead.captured", {"lead_id": 7, "status": "saved", "message": "Thanks!"}),
        ("tool.finished", {"run_id": RUN, "call_id": "c1", "name": "capture_lead", "ok": True}),
        ("tool.started", {"run_id": RUN, "call_id": "c2", "name": "search_products"}),
        ("tool.finished", {"run_id": RUN, "call_id": "c2", "name": "search_products", "ok": False}),
        ("handoff", {"handoff_id": "h1", "status": "requested"}),
        ("some.new_event", {"x": 1}),
        DONE,
    )

    assert kinds(chunks) == [
        "start",
        "tool-input-start",
        "tool-input-available",
        "data-lead",
        "tool-output-available",
        "tool-input-start",
        "tool-input-available",
        "tool-output-error",
        "data-handoff",
        "data-some-new_event",
        "finish",
    ]
    assert chunks[2]["toolName"] == "capture_lead" and chunks[2]["providerExecuted"] is True
    assert chunks[3] == {
        "type": "data-lead",
        "id": "7",
        "data": {"lead_id": 7, "status": "saved", "message": "Thanks!"},
    }
    assert chunks[8]["id"] == "h1"
    assert "id" not in chunks[9]


def test_ui_failure_closes_what_is_open() -> None:
    failure = ("error", {"code": "upstream_stream_cut", "message": "The stream broke off.", "retryable": True})
    chunks = ui_chunks(
        STARTED, delta("Hal"), ("tool.started", {"run_id": RUN, "call_id": "c1", "name": "x"}), failure, DONE
    )

    assert kinds(chunks)[-4:] == ["text-end", "tool-output-error", "error", "finish"]
    assert chunks[-2] == {"type": "error", "errorText": "The stream broke off."}
    assert chunks[-1]["finishReason"] == "error"


def test_ui_stop_is_an_abort() -> None:
    cancelled = ("error", {"code": "cancelled", "message": "The reply was stopped.", "retryable": True})
    chunks = ui_chunks(STARTED, delta("Hal"), cancelled, DONE)

    assert kinds(chunks) == ["start", "text-start", "text-delta", "text-end", "abort"]


# -- AG-UI -------------------------------------------------------------------------------------------


def test_agui_reply() -> None:
    completed = ("message.completed", {"message_id": "msg_1", "content": "Hi"})
    out = agui_events(STARTED, delta(""), delta("Hi"), completed, COMPLETED, DONE)

    assert kinds(out) == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    assert out[0]["threadId"] == "client-thread" and out[0]["runId"] == "client-run"
    assert out[0]["metadata"] == {"assistantProxy": {"threadId": "thr_1", "runId": RUN}}
    assert out[-1]["outcome"] == {"type": "success"}
    assert out[-1]["usage"] == [{"inputTokens": 3, "outputTokens": 2}]


def test_agui_tools_and_custom_events() -> None:
    out = agui_events(
        STARTED,
        ("tool.started", {"run_id": RUN, "call_id": "c1", "name": "capture_lead"}),
        ("lead.captured", {"lead_id": 7}),
        ("tool.finished", {"run_id": RUN, "call_id": "c1", "name": "capture_lead", "ok": False}),
        DONE,
    )

    assert kinds(out) == [
        "RUN_STARTED",
        "TOOL_CALL_START",
        "TOOL_CALL_END",
        "CUSTOM",
        "TOOL_CALL_RESULT",
        "RUN_FINISHED",
    ]
    assert out[1] == {"type": "TOOL_CALL_START", "toolCallId": "c1", "toolCallName": "capture_lead"}
    assert out[3] == {"type": "CUSTOM", "name": "lead.captured", "value": {"lead_id": 7}}
    assert out[4]["toolCallId"] == "c1" and out[4]["content"] == '{"ok":false}' and out[4]["role"] == "tool"


def test_agui_failure_and_stop_end_the_run_once() -> None:
    failure = ("error", {"code": "upstream_unavailable", "message": "The AI provider failed.", "retryable": True})
    out = agui_events(STARTED, delta("Hal"), failure, DONE)
    assert kinds(out)[-2:] == ["TEXT_MESSAGE_END", "RUN_ERROR"]
    assert out[-1] == {"type": "RUN_ERROR", "message": "The AI provider failed.", "code": "upstream_unavailable"}

    cancelled = ("error", {"code": "cancelled", "message": "The reply was stopped.", "retryable": True})
    out = agui_events(STARTED, delta("Hal"), cancelled, DONE)
    assert kinds(out)[-2:] == ["TEXT_MESSAGE_END", "RUN_FINISHED"]
    assert out[-1]["outcome"] == {"type": "cancelled"}


# -- a batch as one write: the deltas that wait in it become one ----------------------------------


def sse_data(chunk: bytes) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in chunk.decode().split("\n") if line.startswith("data: {")]


def test_deltas_of_one_message_in_a_batch_join_under_the_last_id() -> None:
    other = ("message.delta", {"message_id": "msg_2", "delta": "!"})
    batch = events(STARTED, delta("Hi"), delta(" the"), delta("re"), other, delta("x"), DONE)
    joined = joined_deltas(batch)
    assert [(e.id, e.name, e.data) for e in joined] == [
        (f"{RUN}:1", "run.started", STARTED[1]),
        (f"{RUN}:4", "message.delta", {"message_id": "msg_1", "delta": "Hi there"}),
        (f"{RUN}:5", "message.delta", {"message_id": "msg_2", "delta": "!"}),
        (f"{RUN}:6", "message.delta", {"message_id": "msg_1", "delta": "x"}),
        (f"{RUN}:7", "done", {}),
    ]
    assert [e.data for e in batch[1:4]] == [delta("Hi")[1], delta(" the")[1], delta("re")[1]]  # left as they were


def test_ui_stream_writes_a_batch_s_deltas_as_one_text_delta() -> None:
    completed = ("message.completed", {"message_id": "msg_1", "content": "Hi there"})
    mapper = UIMessageMapper()
    batch = events(STARTED, delta("Hi"), delta(" the"), delta("re"), completed, COMPLETED, DONE)
    first, rest = batch[:3], batch[3:]
    chunks = sse_data(mapper.render(first)) + sse_data(mapper.render(rest))
    assert kinds(chunks) == ["start", "text-start", "text-delta", "text-delta", "text-end", "finish"]
    assert "".join(c["delta"] for c in chunks if c["type"] == "text-delta") == "Hi there"
    assert mapper.render(events(DONE)).endswith(b"data: [DONE]\n\n")


def test_agui_writes_a_batch_s_deltas_as_one_content_event() -> None:
    mapper = AguiMapper(thread_id="client-thread", run_id="client-run")
    out = sse_data(mapper.render(events(STARTED, delta("Hi"), delta(" there"), DONE)))
    assert kinds(out) == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    assert out[2]["delta"] == "Hi there"
