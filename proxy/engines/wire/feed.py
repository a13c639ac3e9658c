"""The answer's body as it arrives, handed to the waiting turn: the hot path of a stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from proxy.engines.sse_split import DataSplitter

__all__ = ("SseFeed",)

_PAUSE_AT = 1024  # events waiting for their turn before the connection stops reading


class SseFeed(asyncio.Protocol):
    """The body part of :class:`~proxy.engines.wire.connection.Connection` (its base class, so the
    parser's ``on_body`` and the turn's ``events`` stay one call each per chunk): a success's body
    decoded and split into SSE events as it arrives, the waiting turn woken once per chunk with the
    events completed, reading paused while too many wait; an error status's body kept whole."""

    __slots__ = ("_buffered", "_decompress", "_paused", "_split", "_waiter", "ready")

    _waiter: asyncio.Future[None] | None
    _decompress: Callable[[bytes], bytes] | None
    ready: list[bytes]  # the events the turn has not taken yet
    _split: DataSplitter | None  # a success's body
    _buffered: list[bytes] | None  # an error status's body
    _paused: bool
    # the connection's (which sets all of these), read here:
    _loop: asyncio.AbstractEventLoop
    _error: BaseException | None
    complete: bool
    transport: asyncio.BaseTransport | None

    async def events(self) -> list[bytes]:
        """The data of the events received since the last call, waiting for one; ``[]`` at the end."""
        while not self.ready:
            if self.complete:
                return []
            if self._error is not None:
                raise self._error
            waiter = self._waiter = self._loop.create_future()  # (_wait, inlined: once per chunk)
            try:
                await waiter
            finally:
                self._waiter = None
        ready, self.ready = self.ready, []
        if self._paused:
            self._paused = False
            self.transport.resume_reading()  # type: ignore[union-attr]
        return ready

    def on_body(self, body: bytes) -> None:
        """httptools' callback, for each piece of the body."""
        if self._decompress is not None:
            body = self._decompress(body)
        split = self._split
        if split is None:
            if self._buffered is not None:
                self._buffered.append(body)
            return
        events = split.feed(body)
        if events:
            if self.ready:
                self.ready += events
                if len(self.ready) > _PAUSE_AT and not self._paused:
                    self._paused = True
                    self.transport.pause_reading()  # type: ignore[union-attr]
            else:
                self.ready = events
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
