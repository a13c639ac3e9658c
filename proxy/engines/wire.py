"""A small streaming HTTP/1.1 client for one path: the provider's streamed answers to a turn.

Why not aiohttp here (it still carries the SDK's other calls): measured on the project machine
(2026-12-02, load 5-10), aiohttp's request kept ≈ 13 KB of Python heap per idle stream in the
worker (``tracemalloc``: its connection protocol and parser 4.1 KB, the ``StreamReader`` and its
deques 3.0 KB, the connector 1.7 KB, the ``ClientResponse`` and request 1.6 KB, the session's
frames 0.8 KB, a read-timeout timer rescheduled on every read), and every received chunk went
through its protocol, the ``StreamReader``, that timer and a task wake-up before our SSE splitter
saw it. Here a connection is one :class:`asyncio.Protocol` with ``httptools`` (llhttp, the parser
uvicorn uses) as its parser: the body is split into SSE events inside ``data_received``, the
waiting turn is woken once per chunk with the events completed, and one timer serves the read
timeouts of all connections. Measured the same way: ≈ 2.9 KB per idle stream (the transport, the
protocol, the parser), 44 → 35 KB per idle stream in the worker (RSS), CPU per relayed token at
200 chats 0.68-0.86× and the fixed CPU of a chat 0.6-0.7× of aiohttp's path, turn about.

What it does, as aiohttp did for these requests: a keep-alive pool per origin (at most
``max_idle`` idle connections each, closed after ``keepalive`` seconds idle; no cap on connections
in use: each running turn holds one), host addresses kept ten seconds (as aiohttp's resolver
cache), each tried in turn, TLS with the caller's context (hostname checked),
connect and read timeouts, chunked, ``Content-Length`` and close-delimited bodies, ``gzip`` and
``deflate`` bodies, proxies (absolute-form requests through an ``http://`` proxy, a ``CONNECT``
tunnel for ``https://`` targets, ``Proxy-Authorization``), a reused connection that the server had
closed retried once on a new one before any answer, and a response closed before its end closing
its connection (a cancelled turn too). Not done: redirects (providers' APIs do not redirect a
streamed POST), HTTP/2, ``brotli`` (never asked for: no ``Accept-Encoding`` is sent).

Errors are the standard library's: ``OSError`` (``ConnectionError`` for a closed or malformed
connection, ``ssl.SSLError``, ``socket.gaierror``) and ``TimeoutError``, which
:mod:`proxy.engines.errors` maps as it mapped aiohttp's.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import zlib
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, cast

import httptools
import yarl

from proxy.engines.sse_split import DataSplitter

__all__ = ("Target", "WirePool", "WireResponse")

_PAUSE_AT = 1024  # events waiting for their turn before the connection stops reading
_DNS_SECONDS = 10.0  # how long a host's addresses are kept
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Target:
    """Where one URL's requests go, worked out once: the connection's key and the request's head."""

    key: tuple[str, str, int, str | None]  # scheme, host, port, proxy URL
    host: str
    port: int
    tls: bool
    connect_host: str  # the proxy's when there is one
    connect_port: int
    connect_tls: bool
    tunnel: bytes | None  # the CONNECT request for an https target through a proxy
    head: bytes  # request line and headers, without Content-Length

    @classmethod
    def of(cls, url: str, headers: dict[str, str], proxy: str | None, proxy_auth: str | None) -> Target:
        """``proxy_auth`` is a ``Proxy-Authorization`` value; a proxy URL's credentials are used too."""
        target = yarl.URL(url)
        scheme = target.scheme
        if scheme not in _DEFAULT_PORTS or not target.host:
            raise OSError(f"cannot send to {url!r}: only http and https URLs")
        host, port = target.host, target.port or _DEFAULT_PORTS[scheme]
        authority = f"[{host}]" if ":" in host else host
        if port != _DEFAULT_PORTS[scheme]:
            authority += f":{port}"
        fields = {"Host": authority, **headers}
        tunnel = None
        connect_host, connect_port, connect_tls = host, port, scheme == "https"
        request_target = target.raw_path_qs
        if proxy is not None:
            via = yarl.URL(proxy)
            if via.scheme not in _DEFAULT_PORTS or not via.host:
                raise OSError(f"cannot use the proxy {proxy!r}: only http and https proxies")
            connect_host, connect_port = via.host, via.port or _DEFAULT_PORTS[via.scheme]
            connect_tls = via.scheme == "https"
            if via.user is not None and proxy_auth is None:
                pair = f"{via.user}:{via.password or ''}".encode()
                proxy_auth = "Basic " + base64.b64encode(pair).decode("ascii")
            auth = {"Proxy-Authorization": proxy_auth} if proxy_auth else {}
            if scheme == "https":
                hostport = f"{'[' + host + ']' if ':' in host else host}:{port}"
                tunnel = _head(f"CONNECT {hostport} HTTP/1.1", {"Host": hostport, **auth}) + b"\r\n"
            else:
                request_target = str(target.with_fragment(None))  # absolute-form
                fields.update(auth)
        head = _head(f"POST {request_target} HTTP/1.1", fields)
        return cls(
            (scheme, host, port, proxy), host, port, scheme == "https",
            connect_host, connect_port, connect_tls, tunnel, head,
        )  # fmt: skip


def _head(line: str, fields: dict[str, str]) -> bytes:
    parts = [line]
    for name, value in fields.items():
        if any(c in name or c in value for c in "\r\n\0") or not name or ":" in name:
            raise OSError(f"the header {name!r} cannot be sent")
        parts.append(f"{name}: {value}")
    return ("\r\n".join(parts) + "\r\n").encode("latin-1")


class WirePool:
    """Connections per origin, kept between requests; see the module."""

    def __init__(self, tls: ssl.SSLContext, *, keepalive: float, max_idle: int = 256) -> None:
        self._tls = tls
        self._keepalive = keepalive
        self._max_idle = max_idle
        self._idle: dict[tuple[str, str, int, str | None], list[_Connection]] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._silences: dict[float, _Silences] = {}
        self._dns: dict[str, tuple[float, asyncio.Future[list[Any]]]] = {}
        self._closed = False

    async def post(
        self, target: Target, body: bytes, *, connect_timeout: float | None, read_timeout: float | None
    ) -> WireResponse:
        """Send ``body`` and wait for the answer's status and headers. Whatever ends this early
        (an error, a cancellation) closes the connection."""
        request = b"%sContent-Length: %d\r\n\r\n%s" % (target.head, len(body), body)
        silences = self._watch(read_timeout)
        while True:
            conn = self._take(target)
            reused = conn is not None
            if conn is None:
                async with asyncio.timeout(connect_timeout):
                    conn = await self._open(target)
            try:
                conn.send(request, silences)
                await conn.wait_head()
            except ConnectionError:
                conn.close()
                if reused and not conn.answered:
                    continue  # the server had closed it while it was idle: once more, on a new one
                raise
            except BaseException:
                conn.close()
                raise
            return WireResponse(conn)

    def _watch(self, read_timeout: float | None) -> _Silences | None:
        if read_timeout is None:
            return None
        loop = asyncio.get_running_loop()
        silences = self._silences.get(read_timeout)
        if silences is None or silences.loop is not loop:
            silences = self._silences[read_timeout] = _Silences(loop, read_timeout)
        return silences

    def _take(self, target: Target) -> _Connection | None:
        idle = self._idle.get(target.key)
        while idle:
            conn = idle.pop()
            if conn.usable:
                return conn
            conn.close()
        return None

    async def _open(self, target: Target) -> _Connection:
        loop = asyncio.get_running_loop()
        tls = self._tls if target.connect_tls else None
        conn: _Connection | None = None
        failed: OSError | None = None
        for address in await self._resolve(target.connect_host, target.connect_port):
            try:
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, target.key),
                    address[0],
                    target.connect_port,
                    ssl=tls,
                    server_hostname=target.connect_host if tls else None,
                )
                break
            except ssl.SSLError:
                raise  # the host answered: its certificate or handshake failed, another address would too
            except OSError as exc:
                failed = exc
        if conn is None:
            raise failed or ConnectionError(f"no address for {target.connect_host}")
        if target.tunnel is not None:
            try:
                await conn.open_tunnel(target.tunnel)
                raw = cast(asyncio.WriteTransport, conn.transport)
                transport = await loop.start_tls(raw, conn, self._tls, server_hostname=target.host)
            except BaseException:
                conn.close()
                raise
            if transport is None:  # pragma: no cover - only when the loop closes meanwhile
                raise ConnectionResetError("the connection closed while TLS was set up")
            conn.transport = transport
        return conn

    async def _resolve(self, host: str, port: int) -> list[tuple[Any, ...]]:
        """``host``'s addresses, kept ``_DNS_SECONDS`` (as aiohttp's resolver cache): without it a
        burst of new chats would make one lookup each, every one a hop to the loop's thread pool.
        Lookups of one host at once share one."""
        loop = asyncio.get_running_loop()
        found = self._dns.get(host)
        if found is None or found[0] < loop.time() or found[1].get_loop() is not loop:
            lookup = loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found = (loop.time() + _DNS_SECONDS, asyncio.ensure_future(lookup))
            self._dns[host] = found
        try:
            infos = await asyncio.shield(found[1])
        except OSError:
            if self._dns.get(host) is found:
                del self._dns[host]  # a failed lookup is not kept
            raise
        return [info[4] for info in infos]

    def release(self, conn: _Connection) -> None:
        """A connection whose answer was read to its end: kept for the next request, if it can be."""
        idle = self._idle.setdefault(conn.key, [])
        if self._closed or not conn.usable or len(idle) >= self._max_idle:
            conn.close()
            return
        conn.idle_since = asyncio.get_running_loop().time()
        idle.append(conn)
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(self._keepalive, self._expire)

    def _expire(self) -> None:
        self._sweep = None
        loop = asyncio.get_running_loop()
        cutoff = loop.time() - self._keepalive
        for key, idle in list(self._idle.items()):
            kept = []
            for conn in idle:
                if conn.usable and conn.idle_since > cutoff:
                    kept.append(conn)
                else:
                    conn.close()
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]
        if self._idle:
            self._sweep = loop.call_later(self._keepalive, self._expire)

    def close(self) -> None:
        """Close the idle connections; the ones in use close when their answers are released."""
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


class _Silences:
    """The read timeout of every connection reading an answer, with one timer for all of them
    (a timer each would be half a kilobyte of every idle stream): the connections in the order
    they last received something, so the first is the first due."""

    __slots__ = ("_reading", "_timer", "loop", "seconds")

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self.loop = loop
        self.seconds = seconds
        self._reading: OrderedDict[_Connection, None] = OrderedDict()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, conn: _Connection) -> None:
        conn.last_read = self.loop.time()
        self._reading.pop(conn, None)
        self._reading[conn] = None
        if self._timer is None:
            self._timer = self.loop.call_at(conn.last_read + self.seconds, self._fire)

    def heard(self, conn: _Connection) -> None:
        conn.last_read = self.loop.time()
        self._reading.move_to_end(conn)

    def forget(self, conn: _Connection) -> None:
        self._reading.pop(conn, None)  # the timer stays set: when it fires it sets itself for the next

    def _fire(self) -> None:
        self._timer = None
        reading = self._reading
        now = self.loop.time()
        while reading:
            conn = next(iter(reading))
            due = conn.last_read + self.seconds
            if due > now:
                self._timer = self.loop.call_at(due, self._fire)
                return
            del reading[conn]
            conn.silent(self.seconds)


class WireResponse:
    """One answer: ``status``, ``headers`` (lower-case names; only kept for an error status) and
    its body, as SSE events (a success) or whole (an error status)."""

    __slots__ = ("_conn", "headers", "status")

    def __init__(self, conn: _Connection) -> None:
        self._conn: _Connection | None = conn
        self.status = conn.status
        self.headers: Mapping[str, str] = conn.headers or {}

    def events(self) -> Coroutine[None, None, list[bytes]]:
        """The data of the events received since the last call, waiting for one; ``[]`` at the end.
        (The connection's own coroutine: one frame fewer to resume per chunk.)"""
        conn = self._conn
        return _no_events() if conn is None else conn.events()

    async def read_all(self) -> bytes:
        conn = self._conn
        if conn is None:
            return b""
        return await conn.read_all()

    async def drain(self, seconds: float) -> None:
        """Wait at most ``seconds`` for the rest of the body, so the connection can be kept."""
        conn = self._conn
        if conn is not None:
            await conn.drain(seconds)

    async def close(self) -> None:
        """Release the connection, or close it if the body was not read to its end."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.complete and conn.keep_alive:
            conn.pool.release(conn)
        else:
            conn.close()


async def _no_events() -> list[bytes]:
    return []


class _Connection(asyncio.Protocol):
    """One connection and the answer it is reading (see the module)."""

    __slots__ = (
        "_buffered",
        "_decompress",
        "_error",
        "_framed",
        "_informational",
        "_loop",
        "_paused",
        "_silences",
        "_split",
        "_waiter",
        "answered",
        "complete",
        "headers",
        "idle_since",
        "keep_alive",
        "key",
        "last_read",
        "parser",
        "pool",
        "ready",
        "status",
        "transport",
        "waiting_head",
    )

    def __init__(self, pool: WirePool, key: tuple[str, str, int, str | None]) -> None:
        self.pool = pool
        self.key = key
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.BaseTransport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._silences: _Silences | None = None  # the read timeout's watch while an answer is read
        self._error: BaseException | None = None
        self.idle_since = 0.0
        self.last_read = 0.0
        self._new_answer()
        self.complete = True  # nothing asked yet

    def _reset(self) -> None:
        self.status = 0
        self.headers: dict[str, str] | None = None
        self._decompress: Callable[[bytes], bytes] | None = None
        self._framed = False
        self._informational = False

    def _new_answer(self) -> None:
        self._reset()
        self.ready: list[bytes] = []
        self._buffered: list[bytes] | None = None
        self._split: DataSplitter | None = None
        self._paused = False
        self.answered = False
        self.waiting_head = True
        self.complete = False  # the answer was read to its end
        self.keep_alive = False

    @property
    def usable(self) -> bool:
        transport = self.transport
        return self._error is None and transport is not None and not transport.is_closing()

    # -- the caller's side ----------------------------------------------------------------------

    def send(self, request: bytes, silences: _Silences | None) -> None:
        self._new_answer()
        transport = self.transport
        if transport is None or transport.is_closing() or self._error is not None:
            raise ConnectionResetError("the connection was closed")
        self._silences = silences
        if silences is not None:
            silences.watch(self)
        transport.write(request)  # type: ignore[attr-defined]

    async def open_tunnel(self, request: bytes) -> None:
        """Ask the proxy for a tunnel; then the connection speaks through it (a fresh parser)."""
        self.send(request, None)
        await self.wait_head()
        if self.status != 200:
            raise ConnectionRefusedError(f"the proxy refused the tunnel ({self.status})")
        self._unwatch()
        self.parser = httptools.HttpResponseParser(self)
        self.complete = True

    async def wait_head(self) -> None:
        while self.waiting_head:
            await self._wait()

    async def events(self) -> list[bytes]:
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

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self._unwatch()
        self._wake()

    def _unwatch(self) -> None:
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

    # -- httptools' callbacks ------------------------------------------------------------------

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
            self._decompress = _decompressor(value)

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

    def on_body(self, body: bytes) -> None:
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

    def on_message_complete(self) -> None:
        if self._informational:  # a 1xx before the answer
            self._reset()
            return
        if self._split is not None:
            self.ready += self._split.finish()
            self._split = None
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True
        self._unwatch()
        self._wake()


def _decompressor(encoding: bytes) -> Callable[[bytes], bytes] | None:
    encoding = encoding.strip().lower()
    if encoding in (b"gzip", b"x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress
    if encoding == b"deflate":
        return _Deflate().decompress
    return None


class _Deflate:
    """``deflate`` as servers send it: zlib-wrapped, or (some) raw."""

    __slots__ = ("_d",)

    def __init__(self) -> None:
        self._d: zlib._Decompress | None = None

    def decompress(self, data: bytes) -> bytes:
        if self._d is None:
            raw = not data or (data[0] & 0x0F) != 8
            self._d = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        return self._d.decompress(data)
