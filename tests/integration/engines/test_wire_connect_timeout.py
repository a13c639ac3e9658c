"""The connect timeout: a provider (or a proxy) that does not accept the connection, or does not
finish its part of a handshake (TLS, ``CONNECT``), fails the request with ``TimeoutError`` once the
connect timeout has passed, on asyncio's loop and on uvloop's; the timeout covers everything up to
the request being sent, the tunnel and the TLS inside it included.
"""

from __future__ import annotations

import asyncio

import pytest

from proxy.engines.wire import WirePool
from tests.integration.engines import wire_servers
from tests.integration.engines.wire_servers import (
    LOOPS,
    Certificate,
    ConnectProxy,
    Silent,
    failure,
    full_backlog,
    on_loop,
    post,
    server_tls,
    serving,
    trusting,
)

pytestmark = pytest.mark.integration
certificate = wire_servers.certificate  # the test certificate for 127.0.0.1 (a fixture)

PATH = "/v1/chat/completions"
CONNECT_TIMEOUT = 0.2  # the tests' own limit, which only a hang reaches, is 5 s


@pytest.fixture(params=LOOPS)
def loop(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def timed_out(pool: WirePool, url: str, proxy: str | None = None) -> None:
    """No read timeout: only the connect timeout can end the request before the test's limit."""
    error = await failure(post(pool, url, proxy, connect_timeout=CONNECT_TIMEOUT, read_timeout=None))
    assert type(error) is TimeoutError, repr(error)


async def heard(server: Silent) -> None:
    """Until ``server`` has had the client's first bytes (a ClientHello)."""
    async with asyncio.timeout(5):
        await server.heard.wait()


async def test_a_provider_that_does_not_accept_the_connection(certificate: Certificate) -> None:
    with full_backlog() as port:
        pool = WirePool(trusting(certificate), keepalive=30)
        try:
            await timed_out(pool, f"http://127.0.0.1:{port}{PATH}")
        finally:
            pool.close()


async def test_a_provider_that_never_answers_the_client_hello(loop: str, certificate: Certificate) -> None:
    async def scenario() -> None:
        provider = Silent()
        async with serving(provider.handle) as port:
            pool = WirePool(trusting(certificate), keepalive=30)
            try:
                await timed_out(pool, f"https://127.0.0.1:{port}{PATH}")
            finally:
                pool.close()
            await heard(provider)  # it had the ClientHello

    await on_loop(loop, scenario)


async def test_an_https_proxy_that_never_answers_the_client_hello(certificate: Certificate) -> None:
    proxy = Silent()
    async with serving(proxy.handle) as proxy_port:
        pool = WirePool(trusting(certificate), keepalive=30)
        try:
            await timed_out(pool, f"https://127.0.0.1:9{PATH}", f"https://127.0.0.1:{proxy_port}")
        finally:
            pool.close()
        await heard(proxy)


async def test_a_proxy_that_never_answers_connect(loop: str, certificate: Certificate) -> None:
    proxy = ConnectProxy(answer=None)

    async def scenario() -> None:
        async with serving(proxy.handle, server_tls(certificate)) as proxy_port:
            pool = WirePool(trusting(certificate), keepalive=30)
            try:
                await timed_out(pool, f"https://127.0.0.1:9{PATH}", f"https://127.0.0.1:{proxy_port}")
            finally:
                pool.close()

    await on_loop(loop, scenario)
    [asked] = proxy.asked
    assert asked.startswith(b"CONNECT 127.0.0.1:9 HTTP/1.1\r\n")


@pytest.mark.parametrize("proxy_scheme", ["http", "https"])
async def test_a_provider_that_never_answers_the_client_hello_inside_the_tunnel(
    loop: str, certificate: Certificate, proxy_scheme: str
) -> None:
    proxy = ConnectProxy()

    async def scenario() -> None:
        provider = Silent()
        async with (
            serving(provider.handle) as port,
            serving(proxy.handle, server_tls(certificate) if proxy_scheme == "https" else None) as proxy_port,
        ):
            pool = WirePool(trusting(certificate), keepalive=30)
            try:
                await timed_out(pool, f"https://127.0.0.1:{port}{PATH}", f"{proxy_scheme}://127.0.0.1:{proxy_port}")
            finally:
                pool.close()
            await heard(provider)  # the ClientHello came through the tunnel

    await on_loop(loop, scenario)
    assert len(proxy.asked) == 1
