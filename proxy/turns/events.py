"""The client-facing event vocabulary (v1 SSE), produced once per event and encoded lazily.

The event names are the constants below; every module that makes or reads run events uses them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any, Final

import msgspec.json

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

# compact JSON in UTF-8: what json.dumps(ensure_ascii=False, separators=(",", ":")) gives for what events
# hold, made in C ten times faster (and NaN is null)
_encode = msgspec.json.Encoder().encode


class Event(msgspec.Struct, gc=False, eq=False):
    """One event of a run: ``id`` (``"<run_id>:<seq>"``, usable as ``Last-Event-ID``), ``name``, ``data``.

    Every token of every stream is one of these, so one is cheap to make: the id and the JSON of
    ``data`` are made when first asked for (the v1 frames join the deltas of one write first, and a
    run nobody resumes is never written to the event log), then kept for every other reader.
    ``data`` is not changed once the event is published.

    A struct made in C, and outside the garbage collector's view (``gc=False``): a run keeps its
    events for as long as it lasts, so with many chats open tens of thousands of them would
    otherwise be counted and traversed by every collection they survive. An event holds no
    reference back to anything that holds it (its ``data`` is plain JSON-like values), so it
    is never part of a cycle the collector would have to break.
    """

    run_id: str
    seq: int
    name: str
    data: dict[str, Any]
    _encoded: bytes | None = None

    @classmethod
    def make(cls, run_id: str, seq: int, name: str, data: dict[str, Any]) -> Event:
        return cls(run_id, seq, name, data)

    @classmethod
    def stored(cls, run_id: str, seq: int, name: str, data_json: str) -> Event:
        """An event read back from the event log."""
        return cls(run_id, seq, name, json.loads(data_json), data_json.encode())

    @property
    def id(self) -> str:
        return f"{self.run_id}:{self.seq}"

    @property
    def encoded(self) -> bytes:
        """``data`` as compact JSON (one line), encoded once for every reader."""
        encoded = self._encoded
        if encoded is None:
            encoded = self._encoded = _encode(self.data)
        return encoded

    @property
    def json(self) -> str:
        return self.encoded.decode()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self.run_id, self.seq, self.name, self.data) == (other.run_id, other.seq, other.name, other.data)

    __hash__ = None  # type: ignore[assignment]  # (``data`` is a dict)

    def __repr__(self) -> str:
        return f"Event({self.id!r}, {self.name!r}, {self.data!r})"


def joined_deltas(batch: list[Event]) -> list[Event]:
    """``batch`` with each run of consecutive ``message.delta`` events of one message joined into
    one: the run's text in order, under the id of its last event.

    What a reader writes in one go may carry several tokens; as one delta they are one frame to
    encode, send and parse instead of one each. The text is the same, and a reader resuming after
    the joined event's id (``Last-Event-ID``) continues right after the text it has.
    """
    if len(batch) < 2:
        return batch
    out: list[Event] = []
    i, n = 0, len(batch)
    while i < n:
        event = batch[i]
        j = i + 1
        if event.name == MESSAGE_DELTA and event.seq:
            message_id = event.data["message_id"]
            while j < n and (next_ := batch[j]).name == MESSAGE_DELTA and next_.data["message_id"] == message_id:
                j += 1
        if j - i == 1:
            out.append(event)
        else:
            text = "".join([e.data["delta"] for e in batch[i:j]])
            last = batch[j - 1]
            out.append(Event(last.run_id, last.seq, MESSAGE_DELTA, {"message_id": message_id, "delta": text}))
        i = j
    return out


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
    if type(event) is TextDelta:  # nearly every event: no pattern matching for it
        return MESSAGE_DELTA, {"message_id": event.message_id, "delta": event.delta}
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
