"""One answer as the caller sees it, over the connection that reads it."""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from proxy.engines.wire.connection import Connection

__all__ = ("WireResponse",)


class WireResponse:
    """One answer: ``status``, ``headers`` (lower-case names; only kept for an error status) and
    its body, as SSE events (a success) or whole (an error status)."""

    __slots__ = ("_conn", "headers", "status")

    def __init__(self, conn: Connection) -> None:
        self._conn: Connection | None = conn
        self.status = conn.status
        self.headers: Mapping[str, str] = conn.headers or {}

    def events(self) -> Coroutine[None, None, list[bytes]]:
        """The data of the events received since the last call, waiting for one; ``[]`` at the end.
        (The connection's own coroutine: one frame fewer to resume per read.)"""
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
