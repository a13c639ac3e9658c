"""An https target through an ``https://`` proxy: TLS to the proxy, ``CONNECT``, TLS to the
provider inside the tunnel, on asyncio's loop and on uvloop's (the served app's). The events
arrive, the tunnel is kept for the next request, the credentials go to the proxy only; and each way
the proxy can fail it ends the request at once with an error that says so: a refused ``CONNECT``
(its status), a close at each step, a certificate the client's context does not trust. And an
http target asked of an https proxy in absolute form.
"""

from __future__ import annotations

import asyncio
import ssl

import httpx2
import pytest

from proxy.engines.wire import WirePool
from tests.integration.engines import wire_servers
from tests.integration.engines.wire_servers import (
    DATA,
    LOOPS,
    Certificate,
    ConnectProxy,
    Origin,
    failure,
    hang_up,
    on_loop,
    post,
    read_events,
    server_tls,
    serving,
    trusting,
)

pytestmark = pytest.mark.integration
certificate = wire_servers.certificate  # the test certificate for 127.0.0.1 (a fixture)

PATH = "/v1/chat/completions"


@pytest.fixture(params=LOOPS)
def loop(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def failed_through_proxy(
    proxy_port: int, context: ssl.SSLContext, url: str = f"https://127.0.0.1:9{PATH}"
) -> BaseException:
    """What a request for ``url`` through the https proxy on ``proxy_port`` failed with."""
    pool = WirePool(context, keepalive=30)
    try:
        return await failure(post(pool, url, f"https://127.0.0.1:{proxy_port}"))
    finally:
        pool.close()


async def test_the_requests_go_through_a_tunnel_kept_for_the_next(loop: str, certificate: Certificate) -> None:
    origin, proxy = Origin(), ConnectProxy()

    async def scenario() -> tuple[list[list[bytes]], int]:
        async with (
            serving(origin.handle, server_tls(certificate)) as origin_port,
            serving(proxy.handle, server_tls(certificate)) as proxy_port,
        ):
            pool = WirePool(trusting(certificate), keepalive=30)
            url = f"https://127.0.0.1:{origin_port}{PATH}"
            try:
                answers = [await read_events(pool, url, f"https://u:p@127.0.0.1:{proxy_port}") for _ in range(2)]
            finally:
                pool.close()
        return answers, origin_port

    answers, origin_port = await on_loop(loop, scenario)

    assert answers == [DATA, DATA]
    [asked] = proxy.asked  # one tunnel, one TLS session with the provider, two requests
    assert asked.startswith(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (origin_port, origin_port))
    assert b"\r\nProxy-Authorization: Basic dTpw\r\n" in asked
    assert origin.connections == 1 and len(origin.heads) == 2
    assert origin.heads[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert all(b"Proxy-Authorization" not in head for head in origin.heads)


async def test_an_http_target_is_asked_of_an_https_proxy_in_absolute_form(certificate: Certificate) -> None:
    proxy = Origin()  # answers what it is asked, as a forwarding proxy would with the provider's answer
    async with serving(proxy.handle, server_tls(certificate)) as proxy_port:
        pool = WirePool(trusting(certificate), keepalive=30)
        try:
            events = await read_events(pool, f"http://provider.invalid{PATH}", f"https://u:p@127.0.0.1:{proxy_port}")
        finally:
            pool.close()

    assert events == DATA
    assert proxy.heads[0].startswith(b"POST http://provider.invalid/v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\nProxy-Authorization: Basic dTpw\r\n" in proxy.heads[0]


async def test_a_kept_tunnel_the_provider_closed_is_replaced(loop: str, certificate: Certificate) -> None:
    """The provider closes after each answer, without saying so: the tunnel closes behind it while
    kept (or as the next request goes out, which is then sent again on a new one)."""
    origin, proxy = Origin(close=True), ConnectProxy()

    async def scenario() -> list[list[bytes]]:
        async with (
            serving(origin.handle, server_tls(certificate)) as origin_port,
            serving(proxy.handle, server_tls(certificate)) as proxy_port,
        ):
            pool = WirePool(trusting(certificate), keepalive=30)
            url = f"https://127.0.0.1:{origin_port}{PATH}"
            try:
                return [await read_events(pool, url, f"https://127.0.0.1:{proxy_port}") for _ in range(2)]
            finally:
                pool.close()

    assert await on_loop(loop, scenario) == [DATA, DATA]
    assert len(proxy.asked) == 2 and origin.connections == 2


async def test_a_fast_stream_through_the_tunnel_pauses_and_resumes_its_reading(
    loop: str, certificate: Certificate
) -> None:
    """A read can bring thousands of events (one chunk each) before the turn takes any: the
    connection stops reading, and starts again as they are taken, with TLS inside TLS (on asyncio's
    loop at least, whose reads are larger than uvloop's); every event arrives, in order."""
    count = 8_000
    body = b"".join(b"%x\r\n%s\r\n" % (len(event), event) for event in (b"data:%d\n\n" % n for n in range(count)))
    proxy = ConnectProxy()

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async def scenario() -> list[bytes]:
        async with (
            serving(flood, server_tls(certificate)) as origin_port,
            serving(proxy.handle, server_tls(certificate)) as proxy_port,
        ):
            pool = WirePool(trusting(certificate), keepalive=30)
            try:
                return await read_events(
                    pool, f"https://127.0.0.1:{origin_port}{PATH}", f"https://127.0.0.1:{proxy_port}"
                )
            finally:
                pool.close()

    events = await on_loop(loop, scenario)

    assert events == [b"%d" % n for n in range(count)]


@pytest.mark.parametrize(
    "answer",
    [
        b'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="p"\r\n\r\n',
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\ndenied",
        b"HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n",
    ],
    ids=["407-body-until-close", "403-sized", "502-chunked-unfinished"],
)
async def test_a_refused_connect_fails_at_once_with_the_proxy_s_status(
    loop: str, certificate: Certificate, answer: bytes
) -> None:
    """The proxy keeps the connection open after its answer: the client must not wait for the end
    of a body it does not need."""
    proxy = ConnectProxy(answer=answer)

    async def scenario() -> BaseException:
        async with serving(proxy.handle, server_tls(certificate)) as proxy_port:
            return await failed_through_proxy(proxy_port, trusting(certificate))

    error = await on_loop(loop, scenario)

    assert isinstance(error, ConnectionRefusedError)
    assert str(error) == f"the proxy refused the tunnel to 127.0.0.1 ({answer[9:12].decode()})"


async def test_a_2xx_other_than_200_opens_the_tunnel_too(certificate: Certificate) -> None:
    origin, proxy = Origin(), ConnectProxy(answer=b"HTTP/1.0 204 Tunnel open\r\n\r\n")
    async with (
        serving(origin.handle, server_tls(certificate)) as origin_port,
        serving(proxy.handle) as proxy_port,
    ):
        pool = WirePool(trusting(certificate), keepalive=30)
        try:
            url = f"https://127.0.0.1:{origin_port}{PATH}"
            assert await read_events(pool, url, f"http://127.0.0.1:{proxy_port}") == DATA
        finally:
            pool.close()


async def test_a_proxy_that_closes_before_answering_connect(loop: str, certificate: Certificate) -> None:
    async def scenario() -> BaseException:
        async with serving(hang_up, server_tls(certificate)) as proxy_port:
            return await failed_through_proxy(proxy_port, trusting(certificate))

    error = await on_loop(loop, scenario)

    assert isinstance(error, ConnectionResetError)
    assert str(error) == "the proxy closed the connection before it answered CONNECT"


async def test_a_proxy_that_closes_the_tunnel_it_opened(loop: str, certificate: Certificate) -> None:
    proxy = ConnectProxy(pipe=False)

    async def scenario() -> BaseException:
        async with serving(proxy.handle, server_tls(certificate)) as proxy_port:
            return await failed_through_proxy(proxy_port, trusting(certificate))

    error = await on_loop(loop, scenario)

    assert isinstance(error, ConnectionError) and proxy.asked


async def test_a_proxy_that_closes_during_its_own_tls_handshake(loop: str) -> None:
    async def scenario() -> BaseException:
        async with serving(hang_up) as proxy_port:  # reads the ClientHello, then closes
            return await failed_through_proxy(proxy_port, httpx2.create_ssl_context())

    error = await on_loop(loop, scenario)

    assert isinstance(error, (ConnectionError, ssl.SSLError))


async def test_a_provider_that_closes_during_the_tls_handshake_inside_the_tunnel(
    loop: str, certificate: Certificate
) -> None:
    proxy = ConnectProxy()

    async def scenario() -> BaseException:
        async with serving(hang_up) as origin_port, serving(proxy.handle, server_tls(certificate)) as proxy_port:
            return await failed_through_proxy(
                proxy_port, trusting(certificate), f"https://127.0.0.1:{origin_port}{PATH}"
            )

    error = await on_loop(loop, scenario)

    assert isinstance(error, (ConnectionError, ssl.SSLError)) and proxy.asked


async def test_a_proxy_certificate_the_context_does_not_trust_is_refused(loop: str, certificate: Certificate) -> None:
    proxy = ConnectProxy()

    async def scenario() -> BaseException:
        async with serving(proxy.handle, server_tls(certificate)) as proxy_port:
            return await failed_through_proxy(proxy_port, httpx2.create_ssl_context())  # the SDK's: the system's CAs

    error = await on_loop(loop, scenario)

    assert isinstance(error, ssl.SSLCertVerificationError) and not proxy.asked


async def test_a_provider_certificate_for_another_name_is_refused_inside_the_tunnel(
    loop: str, certificate: Certificate
) -> None:
    """The proxy is trusted; the provider, asked for as ``localhost``, shows a certificate for 127.0.0.1."""
    origin, proxy = Origin(), ConnectProxy()

    async def scenario() -> BaseException:
        async with (
            serving(origin.handle, server_tls(certificate)) as origin_port,
            serving(proxy.handle, server_tls(certificate)) as proxy_port,
        ):
            return await failed_through_proxy(
                proxy_port, trusting(certificate), f"https://localhost:{origin_port}{PATH}"
            )

    error = await on_loop(loop, scenario)

    assert isinstance(error, ssl.SSLCertVerificationError) and "localhost" in str(error)
    assert proxy.asked and not origin.heads
