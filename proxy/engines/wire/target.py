"""Where one URL's requests go, worked out once per URL: the connection's key and the request's head;
and the proxy the environment names for a URL."""

from __future__ import annotations

import base64
import urllib.request
from dataclasses import dataclass

import yarl
from aiohttp.helpers import basicauth_from_netrc, netrc_from_env

__all__ = ("Target", "environment_proxy")

_DEFAULT_PORTS = {"http": 80, "https": 443}


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
    tunnel: bytes | None  # the CONNECT request for an https target through a proxy
    head: bytes  # request line and headers, without Content-Length

    @classmethod
    def of(cls, url: str, headers: dict[str, str], proxy: str | None, proxy_auth: str | None) -> Target:
        """``proxy_auth`` is a ``Proxy-Authorization`` value; a proxy URL's credentials are used too."""
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
        if proxy is not None:
            via = yarl.URL(proxy)
            if via.scheme not in _DEFAULT_PORTS or not via.raw_host:
                raise OSError(f"cannot use the proxy {proxy!r}: only http and https proxies")
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
            connect_host, connect_port, connect_tls, tunnel, head,
        )  # fmt: skip


def environment_proxy(url: str) -> tuple[str | None, str | None]:
    """The proxy the environment names for ``url``, and the ``Proxy-Authorization`` value to send
    it: ``http_proxy`` or ``https_proxy`` by the URL's scheme, else ``all_proxy`` (either name's
    case; an ``http://`` or an ``https://`` proxy, ``http://`` when the value has no scheme; an
    ``all_proxy`` of another scheme, such as ``socks5://``, is not ours to use), skipped for the hosts
    ``no_proxy`` lists (a name, a ``.domain`` suffix, ``name:port``, ``*``); credentials from the
    proxy's URL (:meth:`Target.of` reads them), else netrc's for the proxy's host.
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
        if not proxy or ("://" in proxy and not proxy.lower().startswith(("http://", "https://"))):
            return None, None
    if "://" not in proxy:
        proxy = "http://" + proxy
    via = yarl.URL(proxy)
    if via.user is not None or via.raw_host is None:
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
