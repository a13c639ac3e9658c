"""Server-sent events as the OpenAI API writes them.

The Responses and Assistants APIs name each event (``event: ...`` then ``data: {...}``); the SDK
relies on the name for ``thread.*`` events. Chat Completions sends bare ``data:`` lines and ends
with ``data: [DONE]``; Assistants streams end with ``event: done`` / ``data: [DONE]``.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

__all__ = ("DONE", "EVENT_DONE", "HEADERS", "SLOT", "Template", "data", "dumps", "event")

_encode = msgspec.json.Encoder().encode

HEADERS: Final = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
DONE: Final = b"data: [DONE]\n\n"
EVENT_DONE: Final = b"event: done\ndata: [DONE]\n\n"


def dumps(payload: Any) -> bytes:
    """Compact JSON bytes."""
    return _encode(payload)


def event(name: str, payload: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _encode(payload) + b"\n\n"


def data(payload: Any) -> bytes:
    return b"data: " + _encode(payload) + b"\n\n"


SLOT: Final = "\x00slot\x00"
"""Marks where a :class:`Template` takes a value."""
_SLOT_JSON: Final = _encode(SLOT)


class Template:
    """An event encoded once, with :data:`SLOT` markers for the values that change per delta.

    Deltas are the hot path (benchmarks stream thousands of replies at once), so each costs a join
    of cached bytes rather than building and encoding a whole payload::

        delta = Template(event("response.output_text.delta", {..., "sequence_number": SLOT, "delta": SLOT}))
        delta(7, "word ")

    Values fill the slots in the order they appear in the encoded JSON (the payload's key order).
    """

    __slots__ = ("_parts",)

    def __init__(self, encoded: bytes) -> None:
        self._parts = encoded.split(_SLOT_JSON)

    def __call__(self, *values: Any) -> bytes:
        parts = self._parts
        if len(values) != len(parts) - 1:
            raise ValueError(f"the template has {len(parts) - 1} slots, got {len(values)} values")
        chunks = [parts[0]]
        for value, part in zip(values, parts[1:], strict=True):
            chunks.append(_encode(value))
            chunks.append(part)
        return b"".join(chunks)
