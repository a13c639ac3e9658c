"""Keep-alive connections per origin, and the hosts' addresses they connect to."""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import TYPE_CHECKING, Any

from proxy.engines.wire.connection import Connection
from proxy.engines.wire.response import WireResponse
from proxy.engines.wire.silences import Silences
from proxy.engines.wire.socks import socks_connect
from proxy.engines.wire.target import Target
from proxy.engines.wire.tunnel import open_tunnel

if TYPE_CHECKING:
    from proxy.engines.base import ReadPace

__all__ = ("WirePool",)

_DNS_SECONDS = 10.0  # how long a host's addresses are kept


class WirePool:
    """Connections per origin, kept between requests; see the package."""

    def __init__(self, tls: ssl.SSLContext, *, keepalive: float, max_idle: int = 256) -> None:
        self._tls = tls
        self._keepalive = keepalive
        self._max_idle = max_idle
        self._idle: dict[tuple[str, str, int, str | None], list[Connection]] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._silences: dict[float, Silences] = {}
        self._dns: dict[str, tuple[float, asyncio.Future[list[Any]]]] = {}
        self._closed = False

    async def post(
        self,
        target: Target,
        body: bytes,
        *,
        connect_timeout: float | None,
        read_timeout: float | None,
        pace: ReadPace | None = None,
    ) -> WireResponse:
        """Send ``body`` and wait for the answer's status and headers (``pace``: the turn's, see
        :mod:`proxy.engines.wire.pacing`). Whatever ends this early (an error, a cancellation)
        closes the connection."""
        request = b"%sContent-Length: %d\r\n\r\n%s" % (target.head, len(body), body)
        silences = self._watch(read_timeout)
        while True:
            conn = self._take(target)
            reused = conn is not None
            if conn is None:
                async with asyncio.timeout(connect_timeout):
                    conn = await self._open(target)
            try:
                conn.send(request, silences, pace)
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

    def _watch(self, read_timeout: float | None) -> Silences | None:
        if read_timeout is None:
            return None
        loop = asyncio.get_running_loop()
        silences = self._silences.get(read_timeout)
        if silences is None or silences.loop is not loop:
            silences = self._silences[read_timeout] = Silences(loop, read_timeout)
        return silences

    def _take(self, target: Target) -> Connection | None:
        idle = self._idle.get(target.key)
        while idle:
            conn = idle.pop()
            if conn.usable:
                return conn
            conn.close()
        return None

    async def _open(self, target: Target) -> Connection:
        loop = asyncio.get_running_loop()
        if target.socks is not None:  # connected through the proxy, then as a direct connection
            sock = await socks_connect(
                target.socks, target.connect_host, target.connect_port, target.host, target.port, self._resolve
            )
            tls = self._tls if target.tls else None
            server_hostname = target.host if tls else None
            try:
                _, socks_conn = await loop.create_connection(
                    lambda: Connection(self, target.key), sock=sock, ssl=tls, server_hostname=server_hostname
                )
            except BaseException:
                sock.close()
                raise
            return socks_conn
        tls = self._tls if target.connect_tls else None
        conn: Connection | None = None
        failed: OSError | None = None
        for address in await self._resolve(target.connect_host, target.connect_port):
            try:
                _, conn = await loop.create_connection(
                    lambda: Connection(self, target.key),
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
            await open_tunnel(conn, target.tunnel, self._tls, target.host)
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

    def release(self, conn: Connection) -> None:
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
