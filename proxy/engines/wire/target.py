"""Where one URL's requests go, worked out once per URL: the connection's key and the request's head."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import yarl

__all__ = ("Target",)

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Target:
    """Where one URL's requests go, worked out once: the connection's key and the request's head."""

    key: tuple[str, str, int, str | None]  # scheme, host, port, proxy URL
    host: str
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
        scheme = target.scheme
        if scheme not in _DEFAULT_PORTS or not target.host:
            raise OSError(f"cannot send to {url!r}: only http and https URLs")
        host, port = target.host, target.port or _DEFAULT_PORTS[scheme]
        authority = f"[{host}]" if ":" in host else host
        if port != _DEFAULT_PORTS[scheme]:
            authority += f":{port}"
        fields = {"Host": authority, **headers}
        tunnel = None
        connect_host, connect_port, connect_tls = host, port, scheme == "https"
        request_target = target.raw_path_qs
        if proxy is not None:
            via = yarl.URL(proxy)
            if via.scheme not in _DEFAULT_PORTS or not via.host:
                raise OSError(f"cannot use the proxy {proxy!r}: only http and https proxies")
            connect_host, connect_port = via.host, via.port or _DEFAULT_PORTS[via.scheme]
            connect_tls = via.scheme == "https"
            if via.user is not None and proxy_auth is None:
                pair = f"{via.user}:{via.password or ''}".encode()
                proxy_auth = "Basic " + base64.b64encode(pair).decode("ascii")
            auth = {"Proxy-Authorization": proxy_auth} if proxy_auth else {}
            if scheme == "https":
                hostport = f"{'[' + host + ']' if ':' in host else host}:{port}"
                tunnel = _head(f"CONNECT {hostport} HTTP/1.1", {"Host": hostport, **auth}) + b"\r\n"
            else:
                request_target = str(target.with_fragment(None))  # absolute-form
                fields.update(auth)
        head = _head(f"POST {request_target} HTTP/1.1", fields)
        return cls(
            (scheme, host, port, proxy), host, port, scheme == "https",
            connect_host, connect_port, connect_tls, tunnel, head,
        )  # fmt: skip


def _head(line: str, fields: dict[str, str]) -> bytes:
    """The request line and header lines; a field that would break the head is refused."""
    parts = [line]
    for name, value in fields.items():
        if any(c in name or c in value for c in "\r\n\0") or not name or ":" in name:
            raise OSError(f"the header {name!r} cannot be sent")
        parts.append(f"{name}: {value}")
    return ("\r\n".join(parts) + "\r\n").encode("latin-1")
