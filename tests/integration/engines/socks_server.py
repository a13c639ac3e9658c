"""A SOCKS5 proxy for the tests (RFC 1928's ``CONNECT``, RFC 1929's user name and password), to run
with :func:`tests.integration.engines.wire_servers.serving`: it records what each client offered
and asked, resolves names from its own table (names this machine cannot resolve: what
``socks5h://`` is for), then pipes the connection to the target."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

from tests.integration.engines.wire_servers import _pipe

__all__ = ("Asked", "Socks5Proxy")

IPV4, NAME, IPV6 = 1, 3, 4


@dataclass(frozen=True)
class Asked:
    """One ``CONNECT``: the address type (1 IPv4, 3 a name, 4 IPv6), the host as sent and the port."""

    kind: int
    host: str
    port: int


@dataclass
class Socks5Proxy:
    """``credentials``: the user name and password it requires (else none); ``names``: its own DNS;
    ``reply``: a failure code to answer every ``CONNECT`` with (0: connect); ``connect_to``: the
    address every tunnel goes to, whatever was asked (for a name this machine resolved)."""

    credentials: tuple[bytes, bytes] | None = None
    names: dict[str, str] = field(default_factory=dict)
    reply: int = 0
    connect_to: str | None = None
    offered: list[bytes] = field(default_factory=list)  # the methods each client offered
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)
    asked: list[Asked] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        self.offered.append(methods)
        wanted = 2 if self.credentials is not None else 0
        if version != 5 or wanted not in methods:
            writer.write(b"\x05\xff")
            await writer.drain()
            return
        writer.write(bytes([5, wanted]))
        if wanted == 2 and not await self._login(reader, writer):
            return
        _, command, _, kind = await reader.readexactly(4)
        if kind == IPV4:
            host = socket.inet_ntop(socket.AF_INET, await reader.readexactly(4))
        elif kind == IPV6:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        else:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode("ascii")
        port = int.from_bytes(await reader.readexactly(2), "big")
        self.asked.append(Asked(kind, host, port))
        address = self.connect_to or (self.names.get(host) if kind == NAME else host)
        if command != 1:
            await self._answer(writer, 7)
            return
        if self.reply or address is None:
            await self._answer(writer, self.reply or 4)  # 4: host unreachable (a name it does not know)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(address, port)
        except OSError:
            await self._answer(writer, 5)
            return
        await self._answer(writer, 0)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()

    async def _login(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        _, length = await reader.readexactly(2)
        user = await reader.readexactly(length)
        password = await reader.readexactly((await reader.readexactly(1))[0])
        self.logins.append((user, password))
        accepted = (user, password) == self.credentials
        writer.write(bytes([1, 0 if accepted else 1]))
        await writer.drain()
        return accepted

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, reply: int) -> None:
        writer.write(bytes([5, reply, 0, IPV4]) + socket.inet_aton("127.0.0.1") + (1080).to_bytes(2, "big"))
        await writer.drain()
