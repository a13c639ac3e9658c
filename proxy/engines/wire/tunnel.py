"""An ``https://`` target through a proxy: a ``CONNECT`` tunnel, then TLS with the target inside it."""

from __future__ import annotations

import asyncio
import ssl
from typing import cast

from proxy.engines.wire.connection import Connection

__all__ = ("open_tunnel",)


async def open_tunnel(conn: Connection, request: bytes, tls: ssl.SSLContext, server_hostname: str) -> None:
    """Ask the proxy on ``conn`` for a tunnel (``request``, the ``CONNECT``), then start TLS with the
    target through it; whatever ends this early closes the connection."""
    try:
        conn.send(request, None)
        await conn.wait_head()
        if conn.status != 200:
            raise ConnectionRefusedError(f"the proxy refused the tunnel ({conn.status})")
        conn.tunnel_opened()
        raw = cast(asyncio.WriteTransport, conn.transport)
        transport = await asyncio.get_running_loop().start_tls(raw, conn, tls, server_hostname=server_hostname)
    except BaseException:
        conn.close()
        raise
    if transport is None:  # pragma: no cover - only when the loop closes meanwhile
        raise ConnectionResetError("the connection closed while TLS was set up")
    conn.transport = transport
