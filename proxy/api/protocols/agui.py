"""A run's events as AG-UI events (the protocol CopilotKit speaks), one ``data: {json}`` each.

A view over the run's events (see ``proxy/turns/events.py``):

- ``run.started`` -> ``RUN_STARTED`` with the client's ``threadId`` and ``runId``; our run id is
  in its ``metadata`` (``assistantProxy.runId``), for our cancel route
- ``message.delta`` / ``message.completed`` -> ``TEXT_MESSAGE_START`` / ``_CONTENT`` / ``_END``
- ``tool.started`` -> ``TOOL_CALL_START`` + ``TOOL_CALL_END`` (no ``TOOL_CALL_ARGS``: our tools run
  on the server and their arguments stay there); ``tool.finished`` -> ``TOOL_CALL_RESULT``
- a tool's own event (``lead.captured``, ``handoff``, ...) -> ``CUSTOM`` with its name
- ``error`` -> ``RUN_ERROR``, or ``RUN_FINISHED`` with a ``cancelled`` outcome when the reply was
  stopped; ``done`` -> ``RUN_FINISHED`` (success) after a reply. Open text messages are closed
  first, so the event order is always one AG-UI's verifier accepts.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec.json

from proxy.api.sse import Batches, BatchFrames
from proxy.turns import events
from proxy.turns.events import Event, joined_deltas

_PING = b": ping\n\n"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_encode = msgspec.json.Encoder().encode  # compact UTF-8 JSON


class AguiMapper:
    """Turns one run's events into AG-UI events for the client's thread and run ids."""

    def __init__(self, *, thread_id: str, run_id: str) -> None:
        self._ids = {"threadId": thread_id, "runId": run_id}
        self._open_text: set[str] = set()
        self._usage: list[dict[str, int]] = []
        self._ended = False

    def render(self, batch: list[Event]) -> bytes:
        """A batch as SSE (the deltas of one message that follow each other as one ``TEXT_MESSAGE_CONTENT``)."""
        return b"".join(
            [b"data: %s\n\n" % _encode(out) for event in joined_deltas(batch) for out in self.events(event)]
        )

    def events(self, event: Event) -> list[dict[str, Any]]:
        if self._ended:
            return []
        data = event.data
        match event.name:
            case events.RUN_STARTED:
                metadata = {"assistantProxy": {"threadId": data["thread_id"], "runId": data["run_id"]}}
                return [{"type": "RUN_STARTED", **self._ids, "metadata": metadata}]
            case events.MESSAGE_DELTA:
                message_id = data["message_id"]
                content = [_content(message_id, data["delta"])] if data["delta"] else []
                return [*self._open(message_id), *content]
            case events.MESSAGE_COMPLETED:
                return self._complete(data["message_id"], data["content"])
            case events.TOOL_STARTED:
                call_id = data["call_id"]
                return [
                    {"type": "TOOL_CALL_START", "toolCallId": call_id, "toolCallName": data["name"]},
                    {"type": "TOOL_CALL_END", "toolCallId": call_id},
                ]
            case events.TOOL_FINISHED:
                call_id = data["call_id"]
                result = {"ok": bool(data["ok"])}
                return [
                    {
                        "type": "TOOL_CALL_RESULT",
                        "messageId": f"{call_id}.result",
                        "toolCallId": call_id,
                        "content": _dumps(result),
                        "role": "tool",
                    }
                ]
            case events.RUN_COMPLETED:
                usage = data["usage"]
                self._usage = [{"inputTokens": usage["input_tokens"], "outputTokens": usage["output_tokens"]}]
                return []
            case events.ERROR:
                return self._end_with_error(data)
            case events.DONE:
                self._ended = True
                finished: dict[str, Any] = {"type": "RUN_FINISHED", **self._ids, "outcome": {"type": "success"}}
                if self._usage:
                    finished["usage"] = self._usage
                return [*self._close_text(), finished]
        return [{"type": "CUSTOM", "name": event.name, "value": data}]

    def _open(self, message_id: str) -> list[dict[str, Any]]:
        if message_id in self._open_text:
            return []
        self._open_text.add(message_id)
        return [{"type": "TEXT_MESSAGE_START", "messageId": message_id, "role": "assistant"}]

    def _complete(self, message_id: str, content: str) -> list[dict[str, Any]]:
        if message_id in self._open_text:
            self._open_text.discard(message_id)
            return [{"type": "TEXT_MESSAGE_END", "messageId": message_id}]
        # a message that came whole (e.g. the budget's notice)
        body = [_content(message_id, content)] if content else []
        return [*self._open(message_id), *body, *self._complete(message_id, content)]

    def _close_text(self) -> list[dict[str, Any]]:
        closing = [{"type": "TEXT_MESSAGE_END", "messageId": message_id} for message_id in sorted(self._open_text)]
        self._open_text.clear()
        return closing

    def _end_with_error(self, error: dict[str, Any]) -> list[dict[str, Any]]:
        self._ended = True
        if error.get("code") == "cancelled":
            return [*self._close_text(), {"type": "RUN_FINISHED", **self._ids, "outcome": {"type": "cancelled"}}]
        return [*self._close_text(), {"type": "RUN_ERROR", "message": error["message"], "code": error["code"]}]


def _content(message_id: str, delta: str) -> dict[str, Any]:
    return {"type": "TEXT_MESSAGE_CONTENT", "messageId": message_id, "delta": delta}


def agui_frames(batches: Batches, *, thread_id: str, run_id: str) -> BatchFrames:
    """A run's event batches (None: quiet for a heartbeat) as AG-UI's SSE."""
    return BatchFrames(batches, AguiMapper(thread_id=thread_id, run_id=run_id).render, _PING)
