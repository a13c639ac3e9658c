"""A run's events as SSE in the v1 format (the old service's frames are in ``old_stream``).

Only framing: the batches come from ``TurnManager.follow`` (a run of this worker) or
``TurnManager.resume`` (here, or from the event log).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from litestar.response import Stream

from proxy.api.streaming import FrameStream
from proxy.turns.events import DONE, Batches, Event

__all__ = ["SSE_HEADERS", "BatchFrames", "Batches", "V1Frames", "event_stream", "v1_chunk", "v1_frames"]

_PING = b": ping\r\n\r\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"}


def event_stream(frames: AsyncIterator[bytes]) -> Stream:
    """An SSE response from ready-made frames.

    Litestar's ``ServerSentEvent`` builds a message object per event, encodes it through a
    ``StringIO`` and regular expressions, and starts each response with a hop to a worker thread;
    a run's frames are simple enough to write directly (the bytes on the wire are the same). The
    response writes them from the request's own task (see :mod:`proxy.api.streaming`).
    """
    return FrameStream(frames, media_type="text/event-stream", headers=SSE_HEADERS)


def _v1_frame(event: Event) -> bytes:
    if not event.seq:  # not one of the run's events (no ``id``: a resume could not continue from it)
        return b"event: %s\r\ndata: %s\r\n\r\n" % (event.name.encode(), event.encoded)
    # the data is compact JSON: one line, so one ``data:`` field
    return b"id: %s:%d\r\nevent: %s\r\ndata: %s\r\n\r\n" % (
        event.run_id.encode(),
        event.seq,
        event.name.encode(),
        event.encoded,
    )


def v1_chunk(batch: list[Event]) -> bytes:
    """A batch as v1 SSE: a frame per event.

    Deltas are not joined here (as the AI SDK and AG-UI streams join them): every v1 event keeps
    its own id, one after the other, which clients may count on. Joining would save about a
    microsecond per token of framing, and the bytes of the repeated frame fields.
    """
    return b"".join([_v1_frame(event) for event in batch])


class BatchFrames:
    """A run's event batches as one chunk of SSE frames each (``render``), ``ping`` after a quiet
    heartbeat; batches that render to nothing are skipped.

    An iterator object rather than an async generator: the event loop keeps every live async
    generator in a set of its own, and a worker holds thousands of quiet streams. ``last`` is True
    once the chunk just returned holds the run's ``done``: the response sends it as the end of the
    body, one write instead of two (see :mod:`proxy.api.streaming`). Closing it closes the batches
    (the reader detaches from the run then, not when collected).
    """

    __slots__ = ("_batches", "_ping", "_render", "last")

    def __init__(self, batches: Batches, render: Callable[[list[Event]], bytes], ping: bytes = _PING) -> None:
        self._batches = batches
        self._render = render
        self._ping = ping
        self.last = False

    def __aiter__(self) -> BatchFrames:
        return self

    async def __anext__(self) -> bytes:
        while True:
            batch = await self._batches.__anext__()
            if batch is None:  # quiet for a heartbeat
                return self._ping
            chunk = self._render(batch)
            if batch[-1].name == DONE:
                self.last = True
            if chunk or self.last:
                return chunk

    async def aclose(self) -> None:
        await self._batches.aclose()


class V1Frames(BatchFrames):
    """Batches of a run's events as v1 SSE."""

    __slots__ = ()

    def __init__(self, batches: Batches) -> None:
        super().__init__(batches, v1_chunk)


v1_frames = V1Frames
