"""Where a provider URL's calls go, in words: the log at start-up and ``doctor --providers``.

The proxy is :func:`~proxy.engines.wire.target.environment_proxy`'s, so what is said is what the
calls do; this adds which variable named it, whether ``NO_PROXY`` sent the host direct, and the
proxy settings that are there but not used (an ``ALL_PROXY`` of a scheme the calls cannot go
through, such as ``socks4://``, is skipped: without a word, the operator behind it would only see
the provider time out) or that make every call fail (such a scheme in ``HTTPS_PROXY``).
"""

from __future__ import annotations

import logging
import os
import urllib.request
from dataclasses import dataclass

import yarl

from proxy.engines.wire.target import PROXY_SCHEMES, environment_proxy, shown

__all__ = ("ProxyRoute", "log_route", "proxy_route")

logger = logging.getLogger(__name__)

_SCHEMES = ", ".join(f"{scheme}://" for scheme in PROXY_SCHEMES)


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """How the calls to ``url`` leave this machine."""

    url: str
    proxy: str | None  # shown without its password
    variable: str | None  # the environment variable that named it
    bypassed: bool  # NO_PROXY lists the host
    problem: str | None  # a proxy setting that is ignored, or that fails every call

    @property
    def fails(self) -> bool:
        """Every call fails: the variable for the URL names a proxy of a scheme no call can use."""
        return self.proxy is not None and yarl.URL(self.proxy).scheme not in PROXY_SCHEMES

    def describe(self) -> str:
        if self.proxy is None:
            how = "direct"
            if self.bypassed:
                how += " (NO_PROXY lists the host)"
            elif self.problem is None:
                how += " (no proxy in the environment)"
        else:
            how = f"through {self.proxy} ({self.variable}"
            scheme = yarl.URL(self.proxy).scheme
            if scheme == "socks5h":
                how += "; SOCKS5, the proxy resolves the provider's name"
            elif scheme == "socks5":
                how += "; SOCKS5, the provider's name resolved on this machine (socks5h:// has the proxy do it)"
            how += ")"
        return how if self.problem is None else f"{how}; {self.problem}"


def proxy_route(url: str) -> ProxyRoute:
    """Where the calls to ``url`` go, read from the environment now."""
    proxy, _ = environment_proxy(url)
    target = yarl.URL(url)
    proxies = urllib.request.getproxies()
    if proxy is not None:
        variable = _variable(target.scheme if proxies.get(target.scheme) else "all")
        problem = None
        if yarl.URL(proxy).scheme not in PROXY_SCHEMES:
            problem = f"{variable} is not a proxy the provider calls can go through ({_SCHEMES}): every call fails"
        return ProxyRoute(url, shown(proxy), variable, False, problem)
    host = target.raw_host or ""
    bypassed = bool(proxies) and bool(urllib.request.proxy_bypass(host if ":" in host else f"{host}:{target.port}"))
    problem = None
    other = proxies.get("all")
    if other and not bypassed and not proxies.get(target.scheme):
        problem = (
            f"{_variable('all')}={shown(other)} is ignored: not a proxy the provider calls can go through ({_SCHEMES})"
        )
    return ProxyRoute(url, None, None, bypassed, problem)


def log_route(url: str) -> ProxyRoute:
    """Log where the calls to ``url``'s origin go (once per origin, by the caller): a proxy at
    info, an ignored or failing setting as a warning, direct calls not at all."""
    route = proxy_route(url)
    origin = str(yarl.URL(url).origin())
    if route.problem is not None:
        logger.warning("provider calls to %s: %s", origin, route.describe(), extra={"provider": origin})
    elif route.proxy is not None:
        logger.info("provider calls to %s: %s", origin, route.describe(), extra={"provider": origin})
    return route


def _variable(kind: str) -> str:
    """The variable's name as set (the lower-case one wins, as the standard library reads them)."""
    name = f"{kind}_proxy"
    return name if os.environ.get(name) else name.upper()
