"""Closing a provider client closes what it made beside its own transport, whether it is closed by
``aclose()`` or left by ``async with`` (``httpx2`` closes its transport there without ``aclose()``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx2
import pytest

from proxy.engines.provider_http import ProviderPool
from proxy.engines.proxied import EnvironmentProxied, HttpxPool


class Transport(httpx2.AsyncBaseTransport):
    def __init__(self) -> None:
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


class Recording(HttpxPool):
    """Its transports through a proxy are ones that say whether they were closed."""

    def __init__(self) -> None:
        super().__init__(timeout=httpx2.Timeout(5.0), limits=httpx2.Limits())
        self.made: list[Transport] = []

    def proxied_transport(self, proxy: httpx2.Proxy) -> httpx2.AsyncBaseTransport:
        self.made.append(Transport())
        return self.made[-1]


async def by_aclose(client: EnvironmentProxied) -> None:
    await client.aclose()


async def by_async_with(client: EnvironmentProxied) -> None:
    async with client:
        pass


CLOSINGS = [pytest.param(by_aclose, id="aclose"), pytest.param(by_async_with, id="async-with")]


@pytest.mark.parametrize("close", CLOSINGS)
async def test_the_transports_through_proxies_are_closed(
    close: Callable[[EnvironmentProxied], Awaitable[None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy-one.test:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy-two.test:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    pool = Recording()
    pool._transport_for_url(httpx2.URL("https://provider.test/v1/responses"))
    pool._transport_for_url(httpx2.URL("http://other.test/v1/responses"))
    assert len(pool.made) == 2 and not any(t.closed for t in pool.made)

    await close(pool)

    assert all(t.closed for t in pool.made)


@pytest.mark.parametrize("close", CLOSINGS)
async def test_the_sdk_session_and_the_wire_pool_are_closed(
    close: Callable[[EnvironmentProxied], Awaitable[None]],
) -> None:
    pool = ProviderPool(connect_timeout=5.0, read_timeout=5.0)
    session = pool.session()
    wire = pool.wire()

    await close(pool)

    assert session.closed
    assert wire._closed
