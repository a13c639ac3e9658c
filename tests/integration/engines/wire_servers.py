"""Servers on 127.0.0.1 for the tests of the wire client's proxies and connects
(``test_wire_*.py``): an origin that answers each request with two events, a ``CONNECT`` proxy
(plain or TLS) whose answer each test chooses, servers that never finish a handshake, a port that
accepts no connection; their test certificate; and running a test's scenario on uvloop (the served
app's loop: uvicorn takes it when installed, as ``uvicorn[standard]`` does) as well as on the tests'
asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
import uvloop

from proxy.engines.wire import Target, WirePool, WireResponse

T = TypeVar("T")
Certificate = tuple[Path, Path]  # the test certificate for 127.0.0.1 and its key
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

EVENTS = b'data: {"n": 1}\n\ndata: {"n": 2}\n\n'
DATA = [b'{"n": 1}', b'{"n": 2}']
TUNNEL = b"HTTP/1.1 200 Connection established\r\n\r\n"
LOOPS = ["asyncio", "uvloop"]


async def on_loop(loop: str, scenario: Callable[[], Awaitable[T]]) -> T:
    """``scenario`` on the tests' loop, or on a uvloop loop in a thread (the served app's loop)."""
    if loop == "asyncio":
        return await scenario()

    def run() -> T:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_awaited(scenario))

    return await asyncio.to_thread(run)


async def _awaited(scenario: Callable[[], Awaitable[T]]) -> T:
    return await scenario()


@functools.cache
def _certificate(base: Path) -> Certificate:
    folder = base / "wire-tls"
    folder.mkdir(exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made once for all the modules that take it (as
    test_wire's, with an EC key: milliseconds, where an RSA key takes a second on a busy machine)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    return _certificate(tmp_path_factory.getbasetemp())


def server_tls(certificate: Certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def trusting(certificate: Certificate) -> ssl.SSLContext:
    """A client context that trusts the test certificate (as ``SSL_CERT_FILE`` would make the SDK's)."""
    return ssl.create_default_context(cafile=str(certificate[0]))


@contextlib.asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """``handler`` for each connection on a free port, until the block ends and its connections have."""
    tasks: set[asyncio.Task[None]] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # the block ended (asyncio 3.11's stream callback cannot take a cancelled handler)
        finally:
            writer.close()

    server = await asyncio.start_server(tracked, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


@dataclass
class Origin:
    """The provider: answers each request with the two events (or ``body``, with its
    ``content_type``), on a kept connection (or closes it after each answer: ``close``)."""

    heads: list[bytes] = field(default_factory=list)
    connections: int = 0
    close: bool = False
    body: bytes = EVENTS
    content_type: bytes = b"text/event-stream"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while head := await _head(reader):
            sizes = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
            await reader.readexactly(int(sizes[0].split(b":")[1]) if sizes else 0)
            self.heads.append(head)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
                self.content_type,
                len(self.body),
            )
            writer.write(head + self.body)
            await writer.drain()
            if self.close:
                return


@dataclass
class ConnectProxy:
    """A forward proxy for ``CONNECT`` only: ``answer`` to each (``None``: it says nothing and
    waits for the client to leave), then, after a 2xx, the tunnel when ``pipe`` (else it closes);
    after another status it waits for the client to leave (a refusal must not hang on the close)."""

    answer: bytes | None = TUNNEL
    pipe: bool = True
    asked: list[bytes] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _head(reader)
        if not head:
            return
        self.asked.append(head)
        if self.answer is None:
            await reader.read()
            return
        writer.write(self.answer)
        await writer.drain()
        if not self.answer.split(b" ", 2)[1].startswith(b"2"):
            await reader.read()
            return
        if not self.pipe:
            return
        host, _, port = head.split(b" ")[1].decode().rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()


async def _head(reader: asyncio.StreamReader) -> bytes:
    """The next request's head; ``b""`` once the client has closed between requests."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return b""


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        if sink.can_write_eof():
            sink.write_eof()
        else:
            sink.close()


@dataclass
class Silent:
    """Accepts, reads (a ClientHello, a request) and never answers, until the client leaves;
    ``heard`` once the client has sent something."""

    heard: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await reader.read(1):
            self.heard.set()
            await reader.read()


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Closes as soon as the client has sent something (mid-handshake for a TLS client)."""
    await reader.read(1)


@contextlib.contextmanager
def full_backlog() -> Iterator[int]:
    """A port whose listening socket never accepts and whose backlog is full: a new connection's
    SYN is dropped, so its connect waits (Linux drops SYNs while the accept queue is full)."""
    with socket.socket() as listener, socket.socket() as queued:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # room for one connection, taken by ``queued``
        port = listener.getsockname()[1]
        queued.connect(("127.0.0.1", port))
        yield port


async def failure(attempt: Awaitable[object], limit: float = 5.0) -> BaseException:
    """The error ``attempt`` ends with: it must end on its own, well before ``limit`` seconds (the
    test's limit, which only a hang reaches)."""
    task = asyncio.ensure_future(attempt)
    done, _ = await asyncio.wait({task}, timeout=limit)
    if not done:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise AssertionError(f"still waiting after {limit} s")
    error = task.exception()
    assert error is not None, "it did not fail"
    return error


async def post(
    pool: WirePool,
    url: str,
    proxy: str | None = None,
    *,
    connect_timeout: float | None = 5.0,
    read_timeout: float | None = 5.0,
) -> WireResponse:
    target = Target.of(url, {"Accept": "text/event-stream"}, proxy, None)
    return await pool.post(target, b'{"stream": true}', connect_timeout=connect_timeout, read_timeout=read_timeout)


async def read_events(pool: WirePool, url: str, proxy: str | None = None) -> list[bytes]:
    response = await post(pool, url, proxy)
    assert response.status == 200
    events: list[bytes] = []
    while batch := await response.events():
        events += batch
    await response.close()
    return events
