"""One connection to the provider (or a proxy) and the answer it is reading."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httptools

from proxy.engines.sse_split import DataSplitter
from proxy.engines.wire.decoding import decompressor
from proxy.engines.wire.feed import SseFeed

if TYPE_CHECKING:
    from proxy.engines.base import ReadPace
    from proxy.engines.wire.pool import WirePool
    from proxy.engines.wire.silences import Silences

__all__ = ("Connection",)


class Connection(SseFeed):
    """One connection and the answer it is reading (see the package): an :class:`asyncio.Protocol`
    with ``httptools`` as its parser; the body's part is :class:`~proxy.engines.wire.feed.SseFeed`."""

    __slots__ = (
        "_error",
        "_framed",
        "_informational",
        "_loop",
        "_silences",
        "answered",
        "complete",
        "headers",
        "idle_since",
        "keep_alive",
        "key",
        "last_read",
        "parser",
        "pool",
        "status",
        "transport",
        "waiting_head",
    )

    def __init__(self, pool: WirePool, key: tuple[str, str, int, str | None]) -> None:
        self.pool = pool
        self.key = key
        self._loop = asyncio.get_running_loop()
        self.transport = None
        self.parser = httptools.HttpResponseParser(self)
        self._waiter = None
        self._silences = None  # the read timeout's watch while an answer is read
        self._body = []
        self._held = False
        self._pace = None
        self._error = None
        self.idle_since = 0.0
        self.last_read = 0.0
        self._new_answer()
        self.complete = True  # nothing asked yet

    def _reset(self) -> None:
        self.status = 0
        self.headers: dict[str, str] | None = None
        self._decompress = None
        self._framed = False
        self._informational = False

    def _new_answer(self) -> None:
        self._reset()
        self.ready = []
        self._buffered = None
        self._split = None
        self._body.clear()
        self._paused = False
        self.answered = False
        self.waiting_head = True
        self.complete = False  # the answer was read to its end
        self.keep_alive = False

    @property
    def usable(self) -> bool:
        transport = self.transport
        return self._error is None and transport is not None and not transport.is_closing()

    # -- the caller's side (events: see SseFeed) -----------------------------------------------

    def send(self, request: bytes, silences: Silences | None, pace: ReadPace | None = None) -> None:
        """Send ``request``; ``pace``: the turn's, whose stream may hold the reading of the answer."""
        self._new_answer()
        transport = self.transport
        if transport is None or transport.is_closing() or self._error is not None:
            raise ConnectionResetError("the connection was closed")
        self._silences = silences
        if silences is not None:
            silences.watch(self)
        if pace is not None:
            self._pace = pace
            pace.source = self
        transport.write(request)  # type: ignore[attr-defined]

    def tunnel_opened(self) -> None:
        """The proxy's tunnel is open: what comes next is the target's (a fresh parser)."""
        self._unwatch()
        self.parser = httptools.HttpResponseParser(self)
        self.complete = True

    async def wait_head(self) -> None:
        while self.waiting_head:
            await self._wait()

    async def read_all(self) -> bytes:
        while not self.complete:
            await self._wait()
        return b"".join(self._buffered or ())

    async def drain(self, seconds: float) -> None:
        if self.complete:
            return
        deadline = self._loop.time() + seconds
        timer = self._loop.call_at(deadline, self._wake)
        try:
            while not self.complete and self._loop.time() < deadline:
                self.ready = []  # events after the end the caller saw are not read
                await self._wait()
        except OSError:
            pass  # closed or silent: close() will not keep it
        finally:
            timer.cancel()

    def close(self) -> None:
        self._unwatch()
        self.keep_alive = False
        if self._error is None:
            self._error = ConnectionResetError("the connection was closed")
        self._wake()
        if self.transport is not None:
            self.transport.close()

    async def _wait(self) -> None:
        """Until the next thing happens; raises once the connection failed before the answer's end."""
        if self._error is not None and not self.complete:
            raise self._error
        waiter = self._waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None
        if self._error is not None and not self.complete:
            raise self._error

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self._unwatch()
        self._wake()

    def _unwatch(self) -> None:
        self._unpace()
        if self._silences is not None:
            self._silences.forget(self)
            self._silences = None

    def silent(self, seconds: float) -> None:
        """Nothing came for ``seconds`` while an answer was awaited or read."""
        self._silences = None
        self._fail(TimeoutError(f"the provider sent nothing for {seconds:g} s"))
        self.close()

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.complete:
            self.close()  # bytes nobody asked for: the connection cannot be trusted for another request
            return
        if self._silences is not None:
            self._silences.heard(self)
        self.answered = True
        try:
            self.parser.feed_data(data)
            if self._body:
                self.take_body()
        except httptools.HttpParserError as exc:
            cause = exc.__context__ if isinstance(exc, httptools.HttpParserCallbackError) else exc
            self._fail(ConnectionError(f"malformed answer from the provider: {cause}"))
            self.close()

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost ends the answer

    def connection_lost(self, exc: Exception | None) -> None:
        self._unwatch()
        if not self.complete and not self.waiting_head and not self._framed and self._error is None:
            self.on_message_complete()  # a body delimited by the connection's close
        if not self.complete:
            error = ConnectionResetError("the provider closed the connection before the answer's end")
            error.__cause__ = exc
            self._fail(error)
        self.keep_alive = False
        if self._error is None:
            self._error = ConnectionResetError("the connection was closed")
        self._wake()

    # -- httptools' callbacks (on_body: see SseFeed) -------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.status:
            self.status = self.parser.get_status_code()
            if self.status >= 300:
                self.headers = {}
        name = name.lower()
        if self.headers is not None:
            self.headers[name.decode("latin-1")] = value.decode("latin-1")
        if name == b"content-length" or name == b"transfer-encoding":
            self._framed = True
        elif name == b"content-encoding":
            self._decompress = decompressor(value)

    def on_headers_complete(self) -> None:
        status = self.status = self.parser.get_status_code()
        if status < 200:
            self._informational = True
            return
        if status < 300:
            self._split = DataSplitter()
        else:
            self._buffered = []
        self.waiting_head = False
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:  # a 1xx before the answer
            self._reset()
            return
        if self._split is not None:
            self.take_body()
            self.ready += self._split.finish()
            self._split = None
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True
        self._unwatch()
        self._wake()
