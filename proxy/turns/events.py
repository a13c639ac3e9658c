"""The client-facing event vocabulary (v1 SSE), produced once per event and encoded lazily.

The event names are the constants below; every module that makes or reads run events uses them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Final

from proxy.engines.base import (
    EngineEvent,
    MessageCompleted,
    TextDelta,
    ToolFinished,
    ToolStarted,
    TurnFinished,
)

# the run's own events, in the order a turn makes them
RUN_STARTED: Final = "run.started"
MESSAGE_DELTA: Final = "message.delta"
TOOL_STARTED: Final = "tool.started"
TOOL_FINISHED: Final = "tool.finished"
MESSAGE_COMPLETED: Final = "message.completed"
RUN_COMPLETED: Final = "run.completed"
ERROR: Final = "error"
DONE: Final = "done"  # always the last event of a run
# events tools add
HANDOFF: Final = "handoff"
LEAD_CAPTURED: Final = "lead.captured"

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class Event:
    id: str  # "<run_id>:<seq>", usable as Last-Event-ID
    seq: int
    name: str
    data: dict[str, Any]
    json: str = field(default="", compare=False)  # ``data`` encoded once, for every reader

    @classmethod
    def make(cls, run_id: str, seq: int, name: str, data: dict[str, Any]) -> Event:
        return cls(f"{run_id}:{seq}", seq, name, data, _dumps(data))

    @classmethod
    def stored(cls, run_id: str, seq: int, name: str, data_json: str) -> Event:
        """An event read back from the event log."""
        return cls(f"{run_id}:{seq}", seq, name, json.loads(data_json), data_json)


def parse_event_id(value: str | None, run_id: str) -> int:
    """The sequence number in a ``Last-Event-ID`` of this run; 0 for none; ValueError if foreign."""
    if not value:
        return 0
    prefix, _, seq = value.rpartition(":")
    if prefix != run_id or not seq.isdigit():
        raise ValueError(f"{value!r} is not an event id of run {run_id}")
    return int(seq)


def engine_event_payload(run_id: str, event: EngineEvent) -> tuple[str, dict[str, Any]]:
    """Name and data of the neutral event for one engine event."""
    match event:
        case TextDelta(message_id, delta):
            return MESSAGE_DELTA, {"message_id": message_id, "delta": delta}
        case ToolStarted(call_id, name):
            return TOOL_STARTED, {"run_id": run_id, "call_id": call_id, "name": name}
        case ToolFinished(call_id, name, ok):
            return TOOL_FINISHED, {"run_id": run_id, "call_id": call_id, "name": name, "ok": ok}
        case MessageCompleted(message_id, content):
            return MESSAGE_COMPLETED, {"message_id": message_id, "content": content}
        case TurnFinished(usage):
            usage_data = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
            return RUN_COMPLETED, {"run_id": run_id, "usage": usage_data}
    raise TypeError(f"not an engine event: {event!r}")


# A run's events in batches, as a reader follows them (live or from the event log); None: quiet
# for a heartbeat.
Batches = AsyncGenerator[list[Event] | None, None]
