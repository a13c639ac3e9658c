"""A target through a SOCKS5 proxy: python-socks connects to the proxy and does its handshake
(RFC 1928, with RFC 1929's user name and password); TLS with the target and the request then go
over the socket it hands back as over a direct connection.

``socks5h://`` sends the target's name to the proxy, which resolves it (what a network whose own
DNS knows no outside names needs); ``socks5://`` resolves it here, through the caller's cached
lookup, and sends its first address, as curl does. The proxy's own name goes through that lookup
too, each of its addresses tried in turn. Errors are ``OSError`` naming the proxy, as a direct
connection's would be (:func:`_error` maps the library's): a refusal (``ConnectionRefusedError``:
no acceptable method, credentials refused, the proxy's reply), a close during the handshake
(``ConnectionResetError``) or an answer that is not SOCKS5 (``ConnectionError``); the caller's
connect timeout bounds the whole of it.

The library offers the user name and password only when both are set (``socks5://user@host``
offers none) and sends them as ASCII (:class:`~proxy.engines.wire.target.SocksHop` refuses others).
"""

from __future__ import annotations

import ipaddress
import math
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from python_socks import ProxyConnectionError, ProxyError, ProxyType
from python_socks._errors import IncompleteReadError  # what a close during the handshake is the cause of
from python_socks.async_.asyncio import Proxy

from proxy.engines.wire.target import SocksHop

__all__ = ("socks_connect",)

Resolve = Callable[[str, int], Awaitable[list[tuple[Any, ...]]]]

# python-socks' words for the two refusals before the proxy's reply (which carries a code instead)
_NO_METHOD, _LOGIN_REFUSED = "No acceptable authentication methods", "authentication failure"


async def socks_connect(
    hop: SocksHop, proxy_host: str, proxy_port: int, host: str, port: int, resolve: Resolve
) -> socket.socket:
    """A non-blocking socket through the proxy at ``proxy_host:proxy_port`` to ``host:port``, the
    handshake done (``resolve``: the caller's cached lookup, for the proxy's host and, for
    ``socks5://``, the target's)."""
    if not hop.remote_names and not _is_address(host):
        host = (await resolve(host, port))[0][0]  # an address: the library sends it as one
    username = None if hop.username is None else hop.username.decode("ascii")
    password = None if hop.password is None else hop.password.decode("ascii")
    failed: OSError | None = None
    for address in await resolve(proxy_host, proxy_port):
        proxy = Proxy(ProxyType.SOCKS5, address[0], proxy_port, username, password, rdns=hop.remote_names)
        try:
            return await proxy.connect(host, port, timeout=math.inf)  # the caller's timeout bounds it
        except ProxyConnectionError as exc:  # this address of the proxy did not answer: the next one
            failed = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        except TimeoutError:
            raise  # the socket's own: a timeout, as a direct connection's would be
        except (ProxyError, OSError) as exc:
            raise _error(exc, hop, f"{proxy_host}:{proxy_port}", f"{host}:{port}") from exc
    raise failed or ConnectionError(f"no address for the SOCKS5 proxy {proxy_host}")


def _error(exc: ProxyError | OSError, hop: SocksHop, proxy: str, target: str) -> OSError:
    """The library's error during the handshake, as this module's docstring says it."""
    if isinstance(exc, OSError):  # the socket's own (a reset, a broken pipe), not the library's
        return ConnectionResetError(f"the SOCKS5 proxy at {proxy} closed the connection during its handshake ({exc})")
    said = str(exc)
    if exc.error_code is not None:
        reason = said[:1].lower() + said[1:]
        return ConnectionRefusedError(f"the SOCKS5 proxy at {proxy} could not connect to {target} ({reason})")
    if said.startswith(_NO_METHOD):
        hint = " (it may want a user name and password: socks5://user:password@host)"
        hint = "" if hop.username and hop.password else hint
        return ConnectionRefusedError(f"the SOCKS5 proxy at {proxy} accepts none of the methods offered{hint}")
    if _LOGIN_REFUSED in said:
        return ConnectionRefusedError(f"the SOCKS5 proxy at {proxy} refused the user name and password")
    if isinstance(exc.__cause__, IncompleteReadError):
        return ConnectionResetError(f"the SOCKS5 proxy at {proxy} closed the connection during its handshake")
    return ConnectionError(f"the proxy at {proxy} did not answer as a SOCKS5 proxy ({said})")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
