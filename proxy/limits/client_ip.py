"""The client's address: the TCP peer, or what a trusted reverse proxy says in ``X-Forwarded-For``.

Anyone can send ``X-Forwarded-For``. Only the entries appended by proxies we trust are facts, and
each proxy appends the address *it* saw, so the list is read from the right: the peer must be a
trusted proxy before its header counts at all, then every trusted hop is skipped, and the first
address that is not one of ours is the client. Entries further left were written by the client
and are ignored, which is what makes a spoofed header useless for dodging a limit.

The server must not rewrite the peer itself (uvicorn's ``--proxy-headers`` would, for loopback
peers): this module is the one place that decides, from ``PROXY_TRUSTED_PROXIES``.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from proxy.limits.settings import IPAddress, TrustedProxies, normalize_ip

UNKNOWN = "unknown"


@functools.lru_cache(maxsize=4096)  # ipaddress takes ~10 µs a parse; the same peers come again and again
def parse_ip(value: str) -> IPAddress | None:
    """An address as proxies write it: ``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1``, ``[2001:db8::1]:443``."""
    text = value.strip().strip('"').strip()
    if not text:
        return None
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has at least two colons
        text = text.partition(":")[0]
    text = text.partition("%")[0]  # zone ids (fe80::1%eth0) do not identify a client
    try:
        return normalize_ip(ipaddress.ip_address(text))
    except ValueError:
        return None


def _scope(request_or_scope: Any) -> Mapping[str, Any]:
    scope = getattr(request_or_scope, "scope", request_or_scope)
    if not isinstance(scope, Mapping):
        raise TypeError("client_ip() needs a request or an ASGI scope")
    return scope


def forwarded_for(scope: Mapping[str, Any]) -> list[str]:
    """Every ``X-Forwarded-For`` entry, left to right, across repeated headers."""
    return _entries(forwarded_headers(scope))


def forwarded_headers(scope: Mapping[str, Any]) -> tuple[bytes, ...]:
    """The raw values of the ``X-Forwarded-For`` headers, in order."""
    return tuple(value for name, value in scope.get("headers") or () if name.lower() == b"x-forwarded-for")


def _entries(headers: Iterable[bytes]) -> list[str]:
    entries: list[str] = []
    for value in headers:
        entries.extend(item.strip() for item in value.decode("latin-1").split(","))
    return [entry for entry in entries if entry]


def peer_host(scope: Mapping[str, Any]) -> str:
    """The TCP peer's address as the server gave it; "" for a socket without one."""
    client = scope.get("client")
    return str(client[0]) if client and client[0] else ""


def client_ip(request_or_scope: Any, trusted: TrustedProxies | Iterable[str] | str | None = None) -> str:
    """The address to rate-limit by, as text (IPv6 compressed, IPv4-mapped shown as IPv4)."""
    scope = _scope(request_or_scope)
    proxies = TrustedProxies.parse(trusted)
    return resolve(peer_host(scope), forwarded_headers(scope) if proxies else (), proxies)


def resolve(peer_text: str, forwarded: Iterable[bytes], proxies: TrustedProxies) -> str:
    """:func:`client_ip` from the peer's address and the raw ``X-Forwarded-For`` values."""
    peer = parse_ip(peer_text) if peer_text else None
    peer_trusted = proxies.unix if not peer_text else (peer is not None and peer in proxies)
    if not peer_trusted:
        return str(peer) if peer is not None else (peer_text or UNKNOWN)
    current: IPAddress | None = peer  # the last hop we know; its text only when it is the answer
    for entry in reversed(_entries(forwarded)):
        hop = parse_ip(entry)
        if hop is None:
            # a trusted proxy wrote something that is no address: stop at the last hop we know
            break
        if hop not in proxies:
            return str(hop)
        current = hop
    # every hop is ours (the request came from inside), or the chain broke off
    return str(current) if current is not None else (peer_text or UNKNOWN)
