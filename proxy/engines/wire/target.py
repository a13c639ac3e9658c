"""Where one URL's requests go, worked out once per URL: the connection's key, the request's head and
the hop through a proxy (a ``CONNECT`` tunnel, absolute-form, or SOCKS5); and the proxy the
environment names for a URL."""

from __future__ import annotations

import base64
import urllib.request
from dataclasses import dataclass

import yarl
from aiohttp.helpers import basicauth_from_netrc, netrc_from_env

__all__ = ("PROXY_SCHEMES", "SOCKS_SCHEMES", "SocksHop", "Target", "environment_proxy", "shown")

_DEFAULT_PORTS = {"http": 80, "https": 443}
SOCKS_SCHEMES = ("socks5", "socks5h")
PROXY_SCHEMES = ("http", "https", *SOCKS_SCHEMES)  # the proxies the provider calls can go through
_SOCKS_PORT = 1080


@dataclass(frozen=True, slots=True)
class SocksHop:
    """The SOCKS5 proxy's part of a connection (:mod:`proxy.engines.wire.socks`): whether the
    target's name goes to the proxy (``socks5h``) or is resolved here first (``socks5``), and the
    user name and password it is offered (RFC 1929, ASCII), if any."""

    remote_names: bool
    username: bytes | None = None
    password: bytes | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Where one URL's requests go, worked out once: the connection's key and the request's head."""

    key: tuple[str, str, int, str | None]  # scheme, host, port, proxy URL
    host: str  # as sent (a name in IDNA form, an IPv6 address without brackets)
    port: int
    tls: bool
    connect_host: str  # the proxy's when there is one
    connect_port: int
    connect_tls: bool
    tunnel: bytes | None  # the CONNECT request for an https target through an http(s) proxy
    head: bytes  # request line and headers, without Content-Length
    socks: SocksHop | None = None  # through a SOCKS5 proxy (connect_host and connect_port are its)

    @classmethod
    def of(cls, url: str, headers: dict[str, str], proxy: str | None, proxy_auth: str | None) -> Target:
        """``proxy_auth`` is a ``Proxy-Authorization`` value (an http(s) proxy's; a SOCKS5 proxy takes
        its URL's user name and password only); a proxy URL's credentials are used too."""
        target = yarl.URL(url)
        scheme, host = target.scheme, target.raw_host
        if scheme not in _DEFAULT_PORTS or not host:
            raise OSError(f"cannot send to {url!r}: only http and https URLs")
        port = target.port or _DEFAULT_PORTS[scheme]
        hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        authority = hostport if port != _DEFAULT_PORTS[scheme] else hostport.rpartition(":")[0]
        fields = {"Host": authority, **headers}
        tunnel = None
        connect_host, connect_port, connect_tls = host, port, scheme == "https"
        request_target = target.raw_path_qs
        socks = None
        via = None if proxy is None else yarl.URL(proxy)
        if via is not None and via.scheme in SOCKS_SCHEMES:  # the target's own request, over the proxy's hop
            socks = _socks_hop(via)
            connect_host, connect_port, connect_tls = via.raw_host or "", via.port or _SOCKS_PORT, False
        elif via is not None:
            if via.scheme not in _DEFAULT_PORTS or not via.raw_host:
                schemes = ", ".join(PROXY_SCHEMES)
                raise OSError(f"cannot use the proxy {shown(str(via))!r}: only {schemes} proxies")
            connect_host, connect_port = via.raw_host, via.port or _DEFAULT_PORTS[via.scheme]
            connect_tls = via.scheme == "https"
            if via.user is not None and proxy_auth is None:
                pair = f"{via.user}:{via.password or ''}".encode()
                proxy_auth = "Basic " + base64.b64encode(pair).decode("ascii")
            auth = {"Proxy-Authorization": proxy_auth} if proxy_auth else {}
            if scheme == "https":
                tunnel = _head(f"CONNECT {hostport} HTTP/1.1", {"Host": hostport, **auth}) + b"\r\n"
            else:  # absolute-form, without the URL's credentials or fragment
                request_target = f"{scheme}://{authority}{target.raw_path_qs}"
                fields.update(auth)
        head = _head(f"POST {request_target} HTTP/1.1", fields)
        return cls(
            (scheme, host, port, proxy), host, port, scheme == "https",
            connect_host, connect_port, connect_tls, tunnel, head, socks,
        )  # fmt: skip


def _socks_hop(via: yarl.URL) -> SocksHop:
    if not via.raw_host:
        raise OSError(f"cannot use the proxy {shown(str(via))!r}: it names no host")
    username = None if via.user is None else via.user.encode()
    password = None if via.user is None else (via.password or "").encode()
    if len(username or b"") > 255 or len(password or b"") > 255:  # one byte each for their lengths
        raise OSError("cannot use the SOCKS5 proxy: its user name and password are 255 bytes at most")
    if not (username or b"").isascii() or not (password or b"").isascii():  # as python-socks sends them
        raise OSError("cannot use the SOCKS5 proxy: its user name and password must be ASCII")
    return SocksHop(via.scheme == "socks5h", username, password)


def shown(proxy: str) -> str:
    """A proxy's URL as errors, logs and the doctor say it: without its password."""
    if "://" not in proxy:
        return proxy
    via = yarl.URL(proxy)
    return str(via.with_password("***")) if via.password else proxy


def environment_proxy(url: str) -> tuple[str | None, str | None]:
    """The proxy the environment names for ``url``, and the ``Proxy-Authorization`` value to send
    it: ``http_proxy`` or ``https_proxy`` by the URL's scheme, else ``all_proxy`` (either name's
    case; an ``http://``, ``https://``, ``socks5://`` or ``socks5h://`` proxy, ``http://`` when the
    value has no scheme; an ``all_proxy`` of another scheme, such as ``socks4://``, is not ours to
    use: :mod:`proxy.engines.proxy_routes` says so at start-up and in the doctor), skipped for the
    hosts ``no_proxy`` lists (a name, a ``.domain`` suffix, ``name:port``, ``*``); credentials from
    the proxy's URL (:meth:`Target.of` reads them), else netrc's for an http(s) proxy's host.
    ``(None, None)``: the URL goes direct.

    aiohttp's lookup (``trust_env``) is not used here: it drops an ``https://`` proxy."""
    target = yarl.URL(url)
    host = target.raw_host
    if not host:
        return None, None
    if urllib.request.proxy_bypass(host if ":" in host else f"{host}:{target.port}"):
        return None, None
    proxies = urllib.request.getproxies()
    proxy = proxies.get(target.scheme)
    if not proxy:
        proxy = proxies.get("all")
        if not proxy or ("://" in proxy and proxy.partition("://")[0].lower() not in PROXY_SCHEMES):
            return None, None
    if "://" not in proxy:
        proxy = "http://" + proxy
    via = yarl.URL(proxy)
    if via.user is not None or via.raw_host is None or via.scheme in SOCKS_SCHEMES:
        return proxy, None
    try:
        return proxy, basicauth_from_netrc(netrc_from_env(), via.raw_host).encode()
    except LookupError:  # no netrc, or no entry for the proxy
        return proxy, None


def _head(line: str, fields: dict[str, str]) -> bytes:
    """The request line and header lines; a field that would break the head is refused."""
    parts = [line]
    for name, value in fields.items():
        if any(c in name or c in value for c in "\r\n\0") or not name or ":" in name:
            raise OSError(f"the header {name!r} cannot be sent")
        parts.append(f"{name}: {value}")
    return ("\r\n".join(parts) + "\r\n").encode("latin-1")
