"""A small HTTP/1.1 client on asyncio streams: keep-alive, chunked bodies, one timestamp per read.

The load generator needs thousands of concurrent streams on one core and a clock reading the
moment each piece of a body arrives; a full client (httpx and friends) costs several times more
CPU per event, which would slow the generator and blur what it measures.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator


class HttpError(Exception):
    """The connection broke or the server answered something that is not HTTP/1.1."""


class Connection:
    """One keep-alive connection; requests on it are sequential."""

    def __init__(self, host: str, port: int, default_headers: dict[str, str] | None = None) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        extra = "".join(f"{name}: {value}\r\n" for name, value in (default_headers or {}).items())
        self._fixed = f"Host: {host}:{port}\r\n{extra}".encode()
        self._reusable = False

    async def _ensure(self) -> asyncio.StreamReader:
        if self._reader is None or self._writer is None or not self._reusable or self._writer.is_closing():
            self.close()
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
            sock = self._writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._reader

    async def connect(self) -> None:
        """Open the connection now rather than with the first request."""
        await self._ensure()
        self._reusable = True

    async def send(self, method: str, path: str, body: bytes = b"", content_type: str = "application/json") -> None:
        await self._ensure()
        assert self._writer is not None
        head = (
            f"{method} {path} HTTP/1.1\r\n".encode()
            + self._fixed
            + f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        self._writer.write(head + body)
        self._reusable = False  # until this response has been read to its end

    async def head(self) -> tuple[int, dict[str, str]]:
        assert self._reader is not None
        try:
            raw = await self._reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as exc:
            raise HttpError(f"no response head: {exc!r}") from None
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpError(f"bad status line {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    async def body(self, headers: dict[str, str]) -> AsyncIterator[bytes]:
        """The body as it arrives; the connection is kept only if the body ended cleanly."""
        reader = self._reader
        assert reader is not None
        try:
            if headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    size_line = await reader.readuntil(b"\r\n")
                    size = int(size_line.split(b";", 1)[0], 16)
                    if size == 0:
                        while (await reader.readuntil(b"\r\n")) != b"\r\n":
                            pass
                        break
                    chunk = await reader.readexactly(size + 2)
                    yield chunk[:-2]
            elif "content-length" in headers:
                length = int(headers["content-length"])
                if length:
                    yield await reader.readexactly(length)
            else:
                while piece := await reader.read(65536):
                    yield piece
                return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError) as exc:
            self.close()
            raise HttpError(f"body broken off: {exc!r}") from None
        self._reusable = headers.get("connection", "").lower() != "close"

    async def read_all(self, headers: dict[str, str]) -> bytes:
        return b"".join([piece async for piece in self.body(headers)])

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
        self._reusable = False
