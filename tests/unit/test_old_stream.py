"""The old frames made from a run's events: which frames, in which order, deltas merged."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from proxy.api.old_stream import END, OldFrames, error_status
from proxy.turns.channel import RunChannel
from proxy.turns.events import Event


def publish(channel: RunChannel, *events: tuple[str, dict[str, Any]]) -> None:
    for name, data in events:
        seq = len(channel.events) + 1
        channel.publish(Event.make("run_1", seq, name, data))


def old_frames() -> tuple[OldFrames, RunChannel]:
    channel = RunChannel()
    return OldFrames(SimpleNamespace(channel=channel)), channel  # type: ignore[arg-type]


async def drain(frames: OldFrames) -> list[Any]:
    out = []
    while (item := await frames.next()) is not None:
        out.append(item)
    return out


async def test_text_published_while_waiting_goes_out_as_one_delta() -> None:
    frames, channel = old_frames()
    publish(
        channel,
        ("run.started", {"thread_id": "t", "run_id": "run_1"}),
        ("tool.started", {"run_id": "run_1", "call_id": "c1", "name": "sendEmail"}),
        ("tool.started", {"run_id": "run_1", "call_id": "c2", "name": "sendEmail"}),
        ("tool.finished", {"run_id": "run_1", "call_id": "c1", "name": "sendEmail", "ok": True}),
        ("lead.captured", {"lead_id": 1, "status": "saved", "message": "Thanks!"}),
        ("message.delta", {"message_id": "m", "delta": "Hel"}),
        ("message.delta", {"message_id": "m", "delta": ""}),
        ("message.delta", {"message_id": "m", "delta": "lo "}),
    )
    await frames.until_text()
    assert frames.has_text and frames.error is None
    assert await frames.next() == {"event": "thread.run.created", "status": "queued"}
    # one requires_action for the round, none of the tools' own events
    assert await frames.next() == {"event": "thread.run.requires_action", "status": "requires_action"}
    # written later: whatever text came meanwhile joins the text already waiting
    publish(channel, ("message.delta", {"message_id": "m", "delta": "world"}))
    assert await frames.next() == "Hello world"
    publish(
        channel,
        ("message.delta", {"message_id": "m", "delta": "!"}),
        ("message.completed", {"message_id": "m", "content": "Hello world!"}),
        ("run.completed", {"run_id": "run_1", "usage": {"input_tokens": 1, "output_tokens": 3}}),
        ("done", {}),
    )
    channel.close()
    completed = {
        "event": "thread.message.completed",
        "status": "completed",
        "content": [{"type": "text", "text": {"value": "Hello world!", "annotations": []}}],
    }
    assert await drain(frames) == ["!", completed, END]  # no thread.run.completed


async def test_a_failure_before_text_is_kept_for_the_http_error() -> None:
    frames, channel = old_frames()
    error = {"code": "upstream_unavailable", "message": "The provider is unavailable.", "retryable": True}
    publish(channel, ("run.started", {"thread_id": "t", "run_id": "run_1"}), ("error", error), ("done", {}))
    channel.close()
    await frames.until_text()
    assert (frames.has_text, frames.ended, frames.error) == (False, True, error)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("upstream_unavailable", 503),
        ("upstream_rate_limited", 503),
        ("upstream_quota", 503),
        ("upstream_timeout", 504),
        ("turn_timeout", 504),
        ("upstream_auth", 502),
        ("upstream_stream_cut", 502),
        ("internal", 500),
        ("tool_rounds_exceeded", 500),
    ],
)
def test_error_status(code: str, status: int) -> None:
    assert error_status(code) == status
