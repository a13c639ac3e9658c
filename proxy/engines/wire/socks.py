"""A target through a SOCKS5 proxy (RFC 1928, with RFC 1929's user name and password): a socket
connected to the proxy, the proxy asked to connect it on to the target; TLS with the target and
the request then go over it as over a direct connection.

``socks5h://`` sends the target's name to the proxy, which resolves it (what a network whose own
DNS knows no outside names needs); ``socks5://`` resolves it here and sends its first address, as
curl does. Errors are ``OSError`` naming the proxy, as a direct connection's would be: a refusal
(``ConnectionRefusedError``: no acceptable method, credentials refused, the proxy's reply code), a
close during the handshake (``ConnectionResetError``) or an answer that is not SOCKS5
(``ConnectionError``); the caller's connect timeout bounds the whole of it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from proxy.engines.wire.target import SocksHop

__all__ = ("socks_connect",)

Resolve = Callable[[str, int], Awaitable[list[tuple[Any, ...]]]]

_VERSION = 5
_NO_AUTH, _USER_PASSWORD, _NO_ACCEPTABLE = 0x00, 0x02, 0xFF
_CONNECT = 0x01
_IPV4, _NAME, _IPV6 = 0x01, 0x03, 0x04
_REPLIES = {
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by ruleset",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused",
    0x06: "TTL expired",
    0x07: "command not supported",
    0x08: "address type not supported",
}


async def socks_connect(
    hop: SocksHop, proxy_host: str, proxy_port: int, host: str, port: int, resolve: Resolve
) -> socket.socket:
    """A non-blocking socket through the proxy at ``proxy_host:proxy_port`` to ``host:port``, the
    handshake done (``resolve``: the caller's cached lookup, for the proxy's host and, for
    ``socks5://``, the target's). Each of the proxy's addresses is tried in turn."""
    loop = asyncio.get_running_loop()
    address = host
    if not hop.remote_names and not _is_address(host):
        address = (await resolve(host, port))[0][0]
    sock = await _connected(loop, proxy_host, proxy_port, resolve)
    try:
        await _handshake(loop, sock, hop, address, port, f"{proxy_host}:{proxy_port}")
    except BaseException:
        sock.close()
        raise
    return sock


async def _connected(loop: asyncio.AbstractEventLoop, host: str, port: int, resolve: Resolve) -> socket.socket:
    failed: OSError | None = None
    for address in await resolve(host, port):
        sock = socket.socket(socket.AF_INET6 if len(address) == 4 else socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except BaseException as exc:
            sock.close()
            if not isinstance(exc, OSError):
                raise
            failed = exc
            continue
        return sock
    raise failed or ConnectionError(f"no address for the SOCKS5 proxy {host}")


async def _handshake(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, hop: SocksHop, host: str, port: int, proxy: str
) -> None:
    methods = bytes([_NO_AUTH, _USER_PASSWORD]) if hop.username is not None else bytes([_NO_AUTH])
    await loop.sock_sendall(sock, bytes([_VERSION, len(methods)]) + methods)
    version, method = await _read(loop, sock, 2, proxy)
    if version != _VERSION:
        raise ConnectionError(f"the proxy at {proxy} did not answer as a SOCKS5 proxy")
    if method == _USER_PASSWORD and hop.username is not None:
        password = hop.password or b""
        request = bytes([1, len(hop.username)]) + hop.username + bytes([len(password)]) + password
        await loop.sock_sendall(sock, request)
        if (await _read(loop, sock, 2, proxy))[1] != 0:
            raise ConnectionRefusedError(f"the SOCKS5 proxy at {proxy} refused the user name and password")
    elif method != _NO_AUTH:
        hint = " (it may want a user name and password: socks5://user:password@host)" if hop.username is None else ""
        raise ConnectionRefusedError(f"the SOCKS5 proxy at {proxy} accepts none of the methods offered{hint}")
    await loop.sock_sendall(sock, bytes([_VERSION, _CONNECT, 0]) + _address(host) + port.to_bytes(2, "big"))
    version, reply, _, kind = await _read(loop, sock, 4, proxy)
    if version != _VERSION:
        raise ConnectionError(f"the proxy at {proxy} did not answer as a SOCKS5 proxy")
    if reply != 0:
        reason = _REPLIES.get(reply, f"reply {reply}")
        raise ConnectionRefusedError(f"the SOCKS5 proxy at {proxy} could not connect to {host}:{port} ({reason})")
    if kind == _NAME:
        length = (await _read(loop, sock, 1, proxy))[0]
    elif kind in (_IPV4, _IPV6):
        length = 4 if kind == _IPV4 else 16
    else:
        raise ConnectionError(f"the SOCKS5 proxy at {proxy} answered an unknown address type ({kind})")
    await _read(loop, sock, length + 2, proxy)  # the address the proxy bound, and its port: unused


def _address(host: str) -> bytes:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("ascii")  # a URL's host as sent: IDNA already
        if not 0 < len(name) <= 255:
            raise OSError(f"cannot ask a SOCKS5 proxy for {host!r}: a name of 1 to 255 bytes") from None
        return bytes([_NAME, len(name)]) + name
    return bytes([_IPV4 if ip.version == 4 else _IPV6]) + ip.packed


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _read(loop: asyncio.AbstractEventLoop, sock: socket.socket, size: int, proxy: str) -> bytes:
    data = b""
    while len(data) < size:
        part = await loop.sock_recv(sock, size - len(data))
        if not part:
            raise ConnectionResetError(f"the SOCKS5 proxy at {proxy} closed the connection during its handshake")
        data += part
    return data
