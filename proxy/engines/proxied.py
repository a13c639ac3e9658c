"""Provider clients whose every call goes through the proxy the environment names for its URL.

One reading of the environment for every provider call: ``HTTP(S)_PROXY``, ``ALL_PROXY``,
``NO_PROXY`` and the proxy's credentials (its URL's, else netrc's), by
:func:`~proxy.engines.wire.target.environment_proxy`, once per origin, and logged then
(:func:`~proxy.engines.proxy_routes.log_route`; the engines' factory looks each tenant's provider up
at start-up). The streams of the chat and responses engines take it over the wire client; the SDK's
other calls (conversations, probes, the assistants engine) through the ``httpx2`` client here, which
picks a transport per URL (``_transport_for_url``). ``httpx2``'s own lookup is off (it differs on
``NO_PROXY`` and knows no netrc for a proxy), and aiohttp's (``trust_env``) drops an ``https://``
proxy. An ``http://`` or ``https://`` proxy, or a SOCKS5 one (``socks5://``, ``socks5h://``: over
``httpx2``'s ``socks`` extra here, :mod:`proxy.engines.wire.socks` for the streams).
"""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import Any

import httpx2
import yarl

from proxy.engines.idle_close import OnceMoreOnClose
from proxy.engines.proxy_routes import log_route
from proxy.engines.wire.target import environment_proxy

__all__ = ("EnvironmentProxied", "HttpxPool")


class EnvironmentProxied(httpx2.AsyncClient):
    """An ``httpx2`` client sending each call through :meth:`proxy_for`'s proxy; a subclass makes
    the transport for one proxy (:meth:`proxied_transport`)."""

    def __init__(self, **kwargs: Any) -> None:
        self._proxies: dict[str, tuple[str | None, str | None]] = {}
        self._proxied: dict[tuple[str, str | None], httpx2.AsyncBaseTransport] = {}
        super().__init__(trust_env=False, **kwargs)

    def proxy_for(self, url: str) -> tuple[str | None, str | None]:
        """The proxy's URL for ``url``'s origin and a ``Proxy-Authorization`` value, read once
        (:func:`~proxy.engines.wire.target.environment_proxy`); ``(None, None)``: direct.

        Not per request: aiohttp's ``trust_env`` looked them up in a thread for every request (two
        executor hops per turn, 16 % of the worker's samples at 200 chats)."""
        target = yarl.URL(url)
        origin = f"{target.scheme}://{target.host}:{target.port}"
        found = self._proxies.get(origin)
        if found is None:
            found = self._proxies[origin] = environment_proxy(url)
            log_route(url)
        return found

    def proxied_transport(self, proxy: httpx2.Proxy) -> httpx2.AsyncBaseTransport:
        """The transport of the calls through ``proxy`` (made once per proxy)."""
        raise NotImplementedError

    async def close_more(self) -> None:
        """What the subclass holds besides the client's own transport, closed after it."""

    async def aclose(self) -> None:
        await super().aclose()
        await self.close_more()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await super().__aexit__(exc_type, exc_value, traceback)  # closes the transport, not via aclose()
        await self.close_more()

    def _transport_for_url(self, url: httpx2.URL) -> httpx2.AsyncBaseTransport:
        """``httpx2`` asks this for every request (its mounts, where its own proxies would be)."""
        proxy, auth = self.proxy_for(str(url))
        if proxy is None:
            return self._transport
        transport = self._proxied.get((proxy, auth))
        if transport is None:
            headers = {"Proxy-Authorization": auth} if auth else None  # netrc's; the URL's stay in it
            transport = OnceMoreOnClose(self.proxied_transport(httpx2.Proxy(proxy, headers=headers)))
            self._proxied[proxy, auth] = transport
        return transport


class HttpxPool(EnvironmentProxied):
    """``PROXY_PROVIDER_TRANSPORT=httpx``: every provider call over ``httpx2``'s own connections."""

    def __init__(self, *, timeout: httpx2.Timeout, limits: httpx2.Limits) -> None:
        self._ssl: ssl.SSLContext = httpx2.create_ssl_context()  # SSL_CERT_FILE / SSL_CERT_DIR still count
        self._limits = limits
        transport = OnceMoreOnClose(httpx2.AsyncHTTPTransport(verify=self._ssl, limits=limits))
        super().__init__(transport=transport, timeout=timeout, follow_redirects=True)

    def proxied_transport(self, proxy: httpx2.Proxy) -> httpx2.AsyncBaseTransport:
        proxy.ssl_context = self._ssl  # an https:// proxy's certificate checked as the provider's
        return httpx2.AsyncHTTPTransport(verify=self._ssl, limits=self._limits, proxy=proxy)

    async def close_more(self) -> None:
        transports, self._proxied = list(self._proxied.values()), {}
        for transport in transports:
            await transport.aclose()
