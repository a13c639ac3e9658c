"""Server-sent events as the OpenAI API writes them.

The Responses and Assistants APIs name each event (``event: ...`` then ``data: {...}``); the SDK
relies on the name for ``thread.*`` events. Chat Completions sends bare ``data:`` lines and ends
with ``data: [DONE]``; Assistants streams end with ``event: done`` / ``data: [DONE]``.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

__all__ = ("DONE", "EVENT_DONE", "HEADERS", "data", "dumps", "event")

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
