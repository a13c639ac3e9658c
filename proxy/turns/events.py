"""The client-facing event vocabulary (v1 SSE), produced once per event and encoded lazily."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from proxy.engines.base import (
    EngineError,
    EngineEvent,
    MessageCompleted,
    TextDelta,
    ToolFinished,
    ToolStarted,
    TurnFinished,
)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class Event:
    id: str  # "<run_id>:<seq>", usable as Last-Event-ID
    name: str
    data: dict[str, Any]
    json: str = field(default="", compare=False)

    @classmethod
    def make(cls, run_id: str, seq: int, name: str, data: dict[str, Any]) -> Event:
        return cls(f"{run_id}:{seq}", name, data, _dumps(data))


def engine_event_payload(run_id: str, event: EngineEvent) -> tuple[str, dict[str, Any]]:
    """Name and data of the neutral event for one engine event."""
    match event:
        case TextDelta(message_id, delta):
            return "message.delta", {"message_id": message_id, "delta": delta}
        case ToolStarted(call_id, name):
            return "tool.started", {"run_id": run_id, "call_id": call_id, "name": name}
        case ToolFinished(call_id, name, ok):
            return "tool.finished", {"run_id": run_id, "call_id": call_id, "name": name, "ok": ok}
        case MessageCompleted(message_id, content):
            return "message.completed", {"message_id": message_id, "content": content}
        case TurnFinished(usage):
            usage_data = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
            return "run.completed", {"run_id": run_id, "usage": usage_data}
    raise TypeError(f"not an engine event: {event!r}")


def error_payload(error: EngineError) -> dict[str, Any]:
    return error.as_dict()
