"""The provider streams' HTTP/1.1 client (``proxy.engines.wire``) against servers on 127.0.0.1
that write each answer byte by byte as the test says: the body framings, compressed bodies,
keep-alive and its limits, a reused connection the server had closed, malformed answers, TLS with
verification, and an https target through a ``CONNECT`` proxy.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import ssl
import subprocess
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest

from proxy.engines.wire import Target, WirePool, WireResponse

pytestmark = pytest.mark.integration

EVENTS = b'data: {"n": 1}\n\ndata: {"n": 2}\n\n'
Answer = Callable[[asyncio.StreamWriter], Awaitable[bool]]  # True: the connection stays open


@dataclass
class Raw:
    """A server whose connections each read requests and write the next scripted answer."""

    port: int = 0
    answers: deque[Answer] = field(default_factory=deque)
    heads: list[bytes] = field(default_factory=list)
    peers: list[int] = field(default_factory=list)  # the client's port of each request
    closed: asyncio.Event = field(default_factory=asyncio.Event)  # a connection ended

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/v1/chat/completions?api-version=1"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                sizes = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
                length = int(sizes[0].split(b":")[1]) if sizes else 0
                await reader.readexactly(length)
                self.heads.append(head)
                self.peers.append(writer.get_extra_info("peername")[1])
                if not self.answers or not await self.answers.popleft()(writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.closed.set()


@pytest.fixture
async def raw() -> AsyncIterator[Raw]:
    scripted = Raw()
    server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
    scripted.port = server.sockets[0].getsockname()[1]
    async with server:
        yield scripted


@pytest.fixture
async def pool() -> AsyncIterator[WirePool]:
    wire = WirePool(httpx2.create_ssl_context(), keepalive=30)
    yield wire
    wire.close()


def chunked(*parts: bytes, keep: bool = True) -> Answer:
    async def answer(writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in parts:
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return keep

    return answer


def sized(body: bytes, *, status: bytes = b"200 OK", headers: bytes = b"") -> Answer:
    async def answer(writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n%s" % (status, len(body), headers, body))
        await writer.drain()
        return True

    return answer


def until_close(*parts: bytes) -> Answer:
    """A body without a length: it ends when the server closes the connection."""

    async def answer(writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        for part in parts:
            writer.write(part)
            await writer.drain()
        return False

    return answer


def written(data: bytes) -> Answer:
    async def answer(writer: asyncio.StreamWriter) -> bool:
        writer.write(data)
        await writer.drain()
        return False

    return answer


async def hang_up(writer: asyncio.StreamWriter) -> bool:
    return False


async def send(pool: WirePool, url: str, proxy: str | None = None, auth: str | None = None) -> WireResponse:
    target = Target.of(url, {"Accept": "text/event-stream"}, proxy, auth)
    return await pool.post(target, b'{"stream": true}', connect_timeout=5.0, read_timeout=5.0)


async def read_events(pool: WirePool, url: str, proxy: str | None = None, auth: str | None = None) -> list[bytes]:
    response = await send(pool, url, proxy, auth)
    assert response.status == 200
    events: list[bytes] = []
    while batch := await response.events():
        events += batch
    await response.close()
    return events


@pytest.mark.parametrize(
    "answer",
    [
        chunked(EVENTS[:5], EVENTS[5:17], EVENTS[17:]),
        sized(EVENTS, headers=b"Content-Type: text/event-stream\r\n"),
        until_close(EVENTS[:9], EVENTS[9:]),
        sized(gzip.compress(EVENTS), headers=b"Content-Encoding: gzip\r\n"),
    ],
    ids=["chunked", "content-length", "until-close", "gzip"],
)
async def test_every_framing_of_the_body_gives_its_events(raw: Raw, pool: WirePool, answer: Answer) -> None:
    raw.answers.append(answer)

    assert await read_events(pool, raw.url()) == [b'{"n": 1}', b'{"n": 2}']
    assert raw.heads[0].startswith(b"POST /v1/chat/completions?api-version=1 HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:%d\r\n" % raw.port in raw.heads[0]


async def test_an_error_status_keeps_its_headers_and_whole_body(raw: Raw, pool: WirePool) -> None:
    body = b'{"error": {"message": "slow down"}}'
    raw.answers.append(sized(body, status=b"429 Too Many Requests", headers=b"Retry-After-Ms: 5\r\n"))

    response = await send(pool, raw.url())
    assert (response.status, response.headers["retry-after-ms"]) == (429, "5")
    assert await response.read_all() == body
    await response.close()


async def test_connections_are_kept_up_to_the_limit(raw: Raw) -> None:
    raw.answers.extend(chunked(EVENTS) for _ in range(4))
    pool = WirePool(httpx2.create_ssl_context(), keepalive=30, max_idle=1)
    try:
        for _ in range(2):
            await asyncio.gather(read_events(pool, raw.url()), read_events(pool, raw.url()))  # two at once
    finally:
        pool.close()

    assert len(set(raw.peers[:2])) == 2  # two connections while both were in use
    assert len(set(raw.peers)) == 3  # one of them kept, the other closed


async def test_an_idle_connection_is_closed_after_the_keepalive(raw: Raw) -> None:
    raw.answers.append(chunked(EVENTS))
    pool = WirePool(httpx2.create_ssl_context(), keepalive=0.05)
    try:
        await read_events(pool, raw.url())
        await asyncio.wait_for(raw.closed.wait(), 10)  # the pool closed it, not the test's end
    finally:
        pool.close()


async def test_a_host_name_is_resolved_and_its_addresses_tried(raw: Raw, pool: WirePool) -> None:
    raw.answers.extend([chunked(EVENTS), chunked(EVENTS)])
    url = f"http://localhost:{raw.port}/v1/chat/completions"

    assert await read_events(pool, url) == [b'{"n": 1}', b'{"n": 2}']
    assert b"\r\nHost: localhost:%d\r\n" % raw.port in raw.heads[0]


async def test_a_kept_connection_the_server_dropped_is_replaced_before_the_answer(raw: Raw, pool: WirePool) -> None:
    raw.answers.extend([chunked(EVENTS), hang_up, chunked(EVENTS)])

    assert await read_events(pool, raw.url()) == [b'{"n": 1}', b'{"n": 2}']
    assert await read_events(pool, raw.url()) == [b'{"n": 1}', b'{"n": 2}']
    assert len(set(raw.peers)) == 2 and len(raw.heads) == 3


async def test_a_new_connection_closed_before_the_answer_fails(raw: Raw, pool: WirePool) -> None:
    raw.answers.append(hang_up)

    with pytest.raises(ConnectionError):
        await send(pool, raw.url())
    assert len(raw.heads) == 1


async def test_a_malformed_answer_fails_and_is_not_kept(raw: Raw, pool: WirePool) -> None:
    raw.answers.extend([written(b"SMTP ready\r\n\r\n"), chunked(EVENTS)])

    with pytest.raises(ConnectionError, match="malformed"):
        await send(pool, raw.url())
    assert await read_events(pool, raw.url()) == [b'{"n": 1}', b'{"n": 2}']
    assert len(set(raw.peers)) == 2


async def test_a_body_cut_before_its_end_fails_the_read(raw: Raw, pool: WirePool) -> None:
    raw.answers.append(written(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + EVENTS))

    response = await send(pool, raw.url())
    assert await response.events() == [b'{"n": 1}', b'{"n": 2}']
    with pytest.raises(ConnectionResetError):
        await response.events()
    await response.close()


async def test_a_response_closed_early_closes_its_connection(raw: Raw, pool: WirePool) -> None:
    gate = asyncio.Event()

    async def slow(writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(EVENTS), EVENTS))
        await writer.drain()
        await gate.wait()
        return True

    raw.answers.extend([slow, chunked(EVENTS)])
    response = await send(pool, raw.url())
    assert await response.events() == [b'{"n": 1}', b'{"n": 2}']
    await response.close()
    gate.set()

    assert await read_events(pool, raw.url()) == [b'{"n": 1}', b'{"n": 2}']
    assert len(set(raw.peers)) == 2


# -- TLS ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A self-signed certificate for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    yield cert, key


@pytest.fixture
async def tls_raw(certificate: tuple[Path, Path]) -> AsyncIterator[Raw]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    scripted = Raw()
    server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0, ssl=context)
    scripted.port = server.sockets[0].getsockname()[1]
    async with server:
        yield scripted


@dataclass
class Tunnels:
    """A forward proxy that only opens ``CONNECT`` tunnels, and the requests it was sent."""

    port: int = 0
    asked: list[bytes] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.asked.append(head)
        host, _, port = head.split(b" ")[1].decode().rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture
async def tunnels() -> AsyncIterator[Tunnels]:
    proxy = Tunnels()
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    async with server:
        yield proxy


def trusting(certificate: tuple[Path, Path]) -> WirePool:
    return WirePool(ssl.create_default_context(cafile=str(certificate[0])), keepalive=30)


async def test_tls_is_verified(tls_raw: Raw, pool: WirePool) -> None:
    tls_raw.answers.append(chunked(EVENTS))

    with pytest.raises(ssl.SSLCertVerificationError):
        await send(pool, tls_raw.url("https"))


async def test_tls_with_a_trusted_certificate(tls_raw: Raw, certificate: tuple[Path, Path]) -> None:
    tls_raw.answers.extend([chunked(EVENTS), chunked(EVENTS)])
    pool = trusting(certificate)
    try:
        for _ in range(2):
            assert await read_events(pool, tls_raw.url("https")) == [b'{"n": 1}', b'{"n": 2}']
    finally:
        pool.close()
    assert len(set(tls_raw.peers)) == 1


async def test_an_https_target_through_a_proxy_goes_through_a_tunnel(
    tls_raw: Raw, tunnels: Tunnels, certificate: tuple[Path, Path]
) -> None:
    tls_raw.answers.extend([chunked(EVENTS), chunked(EVENTS)])
    pool = trusting(certificate)
    proxy = f"http://127.0.0.1:{tunnels.port}"
    try:
        for _ in range(2):
            events = await read_events(pool, tls_raw.url("https"), proxy, "Basic dTpw")
            assert events == [b'{"n": 1}', b'{"n": 2}']
    finally:
        pool.close()

    [asked] = tunnels.asked  # one tunnel, kept for the second request
    assert asked.startswith(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\n" % tls_raw.port)
    assert b"\r\nProxy-Authorization: Basic dTpw\r\n" in asked
    assert tls_raw.heads[0].startswith(b"POST /v1/chat/completions?api-version=1 HTTP/1.1\r\n")
    assert b"Proxy-Authorization" not in tls_raw.heads[0]


async def test_an_http_target_through_a_proxy_is_asked_in_absolute_form(raw: Raw, pool: WirePool) -> None:
    raw.answers.append(chunked(EVENTS))
    target = "http://provider.invalid/v1/chat/completions"

    assert await read_events(pool, target, f"http://u:p@127.0.0.1:{raw.port}") == [b'{"n": 1}', b'{"n": 2}']
    assert raw.heads[0].startswith(b"POST http://provider.invalid/v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\nHost: provider.invalid\r\n" in raw.heads[0]
    assert b"\r\nProxy-Authorization: Basic dTpw\r\n" in raw.heads[0]
