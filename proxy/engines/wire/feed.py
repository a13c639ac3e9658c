"""The answer's body as it arrives, handed to the waiting turn: the hot path of a stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from proxy.engines.sse_split import DataSplitter
from proxy.engines.wire.pacing import holds

if TYPE_CHECKING:
    from proxy.engines.base import ReadPace
    from proxy.engines.wire.silences import Silences

__all__ = ("SseFeed",)

_PAUSE_AT = 1024  # events waiting for their turn before the connection stops reading


class SseFeed(asyncio.Protocol):
    """The body part of :class:`~proxy.engines.wire.connection.Connection` (its base class, so the
    parser's ``on_body`` and the turn's ``events`` stay one call each): a success's body
    decoded and split into SSE events as it arrives, once per read (a read may carry many of the
    body's chunks: see :mod:`proxy.engines.wire.pacing`), the waiting turn woken once per read with
    the events completed; reading paused while too many wait, or while the turn's stream holds it
    (``hold``); an error status's body kept whole."""

    __slots__ = ("_body", "_buffered", "_decompress", "_held", "_pace", "_paused", "_split", "_waiter", "ready")

    _waiter: asyncio.Future[None] | None
    _decompress: Callable[[bytes], bytes] | None
    ready: list[bytes]  # the events the turn has not taken yet
    _split: DataSplitter | None  # a success's body
    _body: list[bytes]  # a success's body pieces of the current read, not split yet
    _buffered: list[bytes] | None  # an error status's body
    _paused: bool  # too many events wait for the turn
    _held: bool  # the turn's stream holds the reading until its next write (see pacing)
    _pace: ReadPace | None  # the turn's, while an answer of it is read
    # the connection's (which sets all of these), read here:
    _loop: asyncio.AbstractEventLoop
    _error: BaseException | None
    _silences: Silences | None
    complete: bool
    last_read: float
    transport: asyncio.BaseTransport | None

    async def events(self) -> list[bytes]:
        """The data of the events received since the last call, waiting for one; ``[]`` at the end."""
        while not self.ready:
            if self.complete:
                return []
            if self._error is not None:
                raise self._error
            waiter = self._waiter = self._loop.create_future()  # (_wait, inlined: once per read)
            try:
                await waiter
            finally:
                self._waiter = None
        ready, self.ready = self.ready, []
        if self._paused:
            self._paused = False
            if not self._held:
                self.transport.resume_reading()  # type: ignore[union-attr]
        return ready

    def on_body(self, body: bytes) -> None:
        """httptools' callback, for each piece of the body (split after the read: ``take_body``)."""
        if self._decompress is not None:
            body = self._decompress(body)
        if self._split is not None:
            self._body.append(body)
        elif self._buffered is not None:
            self._buffered.append(body)

    def take_body(self) -> None:
        """After a read (and at the body's end): its pieces split into events, the turn woken."""
        pieces = self._body
        if not pieces or self._split is None:
            return
        events = self._split.feed(pieces[0] if len(pieces) == 1 else b"".join(pieces))
        pieces.clear()
        if events:
            if self.ready:
                self.ready += events
                if len(self.ready) > _PAUSE_AT and not self._paused:
                    self._paused = True
                    if not self._held:
                        self.transport.pause_reading()  # type: ignore[union-attr]
            else:
                self.ready = events
            self._wake()

    # -- the turn's stream pacing the reading (see proxy.engines.wire.pacing) -------------------

    def hold(self, seconds: float) -> bool:
        """Read nothing for ``seconds`` (True); not while no success's body is being read, nor when
        the read timeout would come first (it must find the connection reading)."""
        if self._held or self._split is None or self.complete or self._error is not None:
            return False
        silences = self._silences
        now = self._loop.time()
        if silences is not None and self.last_read + silences.seconds <= now + seconds:
            return False
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        self._held = True
        if not self._paused:
            transport.pause_reading()  # type: ignore[attr-defined]
        holds(self._loop).add(self, seconds)
        return True

    def release(self) -> None:
        """The hold is over (``Holds``' timer): read again, unless too many events still wait."""
        if not self._held:
            return
        self._held = False
        transport = self.transport
        if not self._paused and transport is not None and not transport.is_closing():
            transport.resume_reading()  # type: ignore[attr-defined]

    def _unpace(self) -> None:
        """The answer ended (or the connection did): nothing of the turn is read here any more."""
        pace = self._pace
        if pace is not None:
            self._pace = None
            if pace.source is self:
                pace.source = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
