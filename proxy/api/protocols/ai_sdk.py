"""A run's events as the AI SDK's UI message stream (v1), which ``useChat`` reads.

Every chunk is one ``data: {json}`` SSE event; the stream ends with ``data: [DONE]``. The mapping
is a view over the run's events (see ``proxy/turns/events.py``):

- ``run.started`` -> ``start`` (the message id is our run id; its metadata names thread and run)
- ``message.delta`` / ``message.completed`` -> ``text-start`` / ``text-delta`` / ``text-end``
- ``tool.started`` -> ``tool-input-start`` + ``tool-input-available``; ``tool.finished`` ->
  ``tool-output-available`` or ``tool-output-error``. Our tools run on the server
  (``providerExecuted``); their arguments and raw output stay there, as in the v1 stream.
- a tool's own event (``lead.captured``, ``handoff``, ...) -> a ``data-*`` part
- ``error`` -> ``error`` (``abort`` when the reply was stopped); ``done`` -> ``finish`` after a
  reply, then ``[DONE]``. Parts still open when a run fails are closed first.
"""

from __future__ import annotations

from typing import Any

import msgspec.json

from proxy.api.sse import Batches, BatchFrames
from proxy.turns import events
from proxy.turns.events import Event, joined_deltas

HEADERS = {"x-vercel-ai-ui-message-stream": "v1"}
_PING = b": ping\n\n"
_DONE = b"data: [DONE]\n\n"
_encode = msgspec.json.Encoder().encode  # compact UTF-8 JSON

# tools' own events, by the data part's name (``data-lead``); others keep theirs, dots as dashes
_DATA_NAMES = {events.LEAD_CAPTURED: "lead"}
_TOOL_FAILED = "The tool failed; the assistant was told why."
_TOOL_STOPPED = "The reply was stopped before the tool finished."


class UIMessageMapper:
    """Turns one run's events into UI message chunks, remembering what is open."""

    def __init__(self) -> None:
        self._open_text: set[str] = set()
        self._open_tools: set[str] = set()
        self._metadata: dict[str, Any] = {}
        self._failed = False

    def render(self, batch: list[Event]) -> bytes:
        """A batch as SSE (the deltas of one message that follow each other as one ``text-delta``)."""
        frames = [b"data: %s\n\n" % _encode(chunk) for event in joined_deltas(batch) for chunk in self.chunks(event)]
        if batch[-1].name == events.DONE:
            frames.append(_DONE)
        return b"".join(frames)

    def chunks(self, event: Event) -> list[dict[str, Any]]:
        data = event.data
        match event.name:
            case events.RUN_STARTED:
                self._metadata = {"threadId": data["thread_id"], "runId": data["run_id"]}
                return [{"type": "start", "messageId": data["run_id"], "messageMetadata": self._metadata}]
            case events.MESSAGE_DELTA:
                return [*self._open(data["message_id"]), _delta(data["message_id"], data["delta"])]
            case events.MESSAGE_COMPLETED:
                return self._complete(data["message_id"], data["content"])
            case events.TOOL_STARTED:
                return self._tool_started(data["call_id"], data["name"])
            case events.TOOL_FINISHED:
                self._open_tools.discard(data["call_id"])
                if data["ok"]:
                    return [_tool_output(data["call_id"])]
                return [_tool_error(data["call_id"], _TOOL_FAILED)]
            case events.RUN_COMPLETED:
                self._metadata = {**self._metadata, "usage": data["usage"]}
                return []
            case events.ERROR:
                return self._error(data)
            case events.DONE:
                return [] if self._failed else [_finish(self._metadata)]
        name = _DATA_NAMES.get(event.name, event.name.replace(".", "-"))
        part: dict[str, Any] = {"type": f"data-{name}", "data": data}
        if isinstance(key := data.get(f"{name}_id"), str | int):
            part["id"] = str(key)  # a later event of the same lead or handoff updates its part
        return [part]

    def _open(self, message_id: str) -> list[dict[str, Any]]:
        if message_id in self._open_text:
            return []
        self._open_text.add(message_id)
        return [{"type": "text-start", "id": message_id}]

    def _complete(self, message_id: str, content: str) -> list[dict[str, Any]]:
        if message_id in self._open_text:
            self._open_text.discard(message_id)
            return [{"type": "text-end", "id": message_id}]
        # a message that came whole (e.g. the budget's notice)
        return [
            {"type": "text-start", "id": message_id},
            _delta(message_id, content),
            {"type": "text-end", "id": message_id},
        ]

    def _tool_started(self, call_id: str, name: str) -> list[dict[str, Any]]:
        self._open_tools.add(call_id)
        common = {"toolCallId": call_id, "toolName": name, "providerExecuted": True}
        return [{"type": "tool-input-start", **common}, {"type": "tool-input-available", **common, "input": {}}]

    def _error(self, error: dict[str, Any]) -> list[dict[str, Any]]:
        """Close what is open, then ``abort`` for a stopped reply or ``error`` for a failure."""
        self._failed = True
        stopped = error.get("code") == "cancelled"
        closing = [{"type": "text-end", "id": message_id} for message_id in sorted(self._open_text)]
        why = _TOOL_STOPPED if stopped else _TOOL_FAILED
        closing += [_tool_error(call_id, why) for call_id in sorted(self._open_tools)]
        self._open_text.clear()
        self._open_tools.clear()
        if stopped:
            return [*closing, {"type": "abort", "reason": error["message"]}]
        return [*closing, {"type": "error", "errorText": error["message"]}, _finish(self._metadata, "error")]


def _delta(message_id: str, delta: str) -> dict[str, Any]:
    return {"type": "text-delta", "id": message_id, "delta": delta}


def _tool_output(call_id: str) -> dict[str, Any]:
    return {"type": "tool-output-available", "toolCallId": call_id, "output": {"ok": True}, "providerExecuted": True}


def _tool_error(call_id: str, text: str) -> dict[str, Any]:
    return {"type": "tool-output-error", "toolCallId": call_id, "errorText": text, "providerExecuted": True}


def _finish(metadata: dict[str, Any], reason: str = "stop") -> dict[str, Any]:
    return {"type": "finish", "finishReason": reason, "messageMetadata": metadata}


def ui_message_frames(batches: Batches) -> BatchFrames:
    """A run's event batches (None: quiet for a heartbeat) as the UI message stream's SSE."""
    return BatchFrames(batches, UIMessageMapper().render, _PING)
