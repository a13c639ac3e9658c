"""An ``https://`` target through a proxy: a ``CONNECT`` tunnel, then TLS with the target inside it."""

from __future__ import annotations

import asyncio
import ssl
from typing import cast

from proxy.engines.wire.connection import Connection

__all__ = ("open_tunnel",)


async def open_tunnel(conn: Connection, request: bytes, tls: ssl.SSLContext, server_hostname: str) -> None:
    """Ask the proxy on ``conn`` for a tunnel (``request``, the ``CONNECT``), then start TLS with the
    target through it; whatever ends this early closes the connection. The errors name the proxy:
    a refusal carries its status (``ConnectionRefusedError``), a close ``ConnectionResetError``."""
    try:
        conn.send(request, None)
        try:
            await conn.wait_head()
        except ConnectionResetError as exc:
            raise ConnectionResetError("the proxy closed the connection before it answered CONNECT") from exc
        if not 200 <= conn.status < 300:  # any 2xx opens the tunnel (RFC 9110, 9.3.6)
            raise ConnectionRefusedError(f"the proxy refused the tunnel to {server_hostname} ({conn.status})")
        if not conn.usable:  # closed with its answer: TLS over it would fail without saying why
            raise ConnectionResetError("the proxy closed the tunnel as it opened it")
        conn.tunnel_opened()
        raw = cast(asyncio.WriteTransport, conn.transport)
        try:
            transport = await asyncio.get_running_loop().start_tls(raw, conn, tls, server_hostname=server_hostname)
        except TypeError as exc:
            # asyncio before 3.11.8 and 3.12.2 (CPython gh-113214): a failed handshake inside the TLS
            # of an https proxy raises this TypeError, the handshake's own error as its context
            if isinstance(exc.__context__, OSError):
                raise exc.__context__ from None
            raise
    except BaseException:
        # at once, without a TLS goodbye to an https proxy: asyncio (3.11) would otherwise hand the
        # proxy's close to the half-made TLS inside and log an error of its own
        cast(asyncio.WriteTransport, conn.transport).abort()
        conn.close()
        raise
    if transport is None:  # pragma: no cover - asyncio's, for a transport closed as TLS began
        raise ConnectionResetError("the connection closed while TLS was set up")
    conn.transport = transport
