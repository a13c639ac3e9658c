"""A run's events as SSE in the v1 format (the old service's frames are in ``old_stream``).

Only framing: the batches come from ``TurnManager.follow`` (a run of this worker) or
``TurnManager.resume`` (here, or from the event log).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from litestar.response import Stream

from proxy.api.streaming import FrameStream
from proxy.turns.events import Batches, Event

__all__ = ["Batches", "V1Frames", "event_stream", "v1_frames"]

_PING = b": ping\r\n\r\n"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_SSE_HEADERS = {"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"}


def event_stream(frames: AsyncIterator[bytes]) -> Stream:
    """An SSE response from ready-made frames.

    Litestar's ``ServerSentEvent`` builds a message object per event, encodes it through a
    ``StringIO`` and regular expressions, and starts each response with a hop to a worker thread;
    a run's frames are simple enough to write directly (the bytes on the wire are the same). The
    response writes them from the request's own task (see :mod:`proxy.api.streaming`).
    """
    return FrameStream(frames, media_type="text/event-stream", headers=_SSE_HEADERS)


def _v1_frame(event: Event) -> bytes:
    # event.json is compact JSON: one line, so one ``data:`` field
    return f"id: {event.id}\r\nevent: {event.name}\r\ndata: {event.json}\r\n\r\n".encode()


def _unnumbered_frame(name: str, data: dict[str, Any]) -> bytes:
    """An event that is not one of the run's (no ``id``: a resume could not continue from it)."""
    return f"event: {name}\r\ndata: {_dumps(data)}\r\n\r\n".encode()


class V1Frames:
    """Batches of a run's events as v1 SSE.

    An iterator object rather than an async generator: the event loop keeps every live async
    generator in a set of its own, and a worker holds thousands of quiet streams. Closing it closes
    the batches (the reader detaches from the run then, not when collected).
    """

    __slots__ = ("_batches",)

    def __init__(self, batches: Batches) -> None:
        self._batches = batches

    def __aiter__(self) -> V1Frames:
        return self

    async def __anext__(self) -> bytes:
        batch = await self._batches.__anext__()
        if batch is None:  # quiet for a heartbeat
            return _PING
        return b"".join(_v1_frame(e) if e.seq else _unnumbered_frame(e.name, e.data) for e in batch)

    async def aclose(self) -> None:
        await self._batches.aclose()


v1_frames = V1Frames
