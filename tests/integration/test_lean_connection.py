"""``serve``'s protocol on a real uvicorn: its lighter events and pipeline queue behave as
uvicorn's own (request bodies, ``100-continue``, pipelined requests, a client too slow to read),
and a response's headers go out with the first part of its body in one write, or alone when the
body is late."""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio.to_thread
import pytest
from litestar import Litestar, Request, get, post
from litestar.response import Stream

from proxy.serving import BoundedHttpToolsProtocol
from proxy.simulator import ServerThread

CHUNK = 64 * 1024
BIG = 256  # chunks: 16 MB, more than loopback's socket buffers hold


class Recording(BoundedHttpToolsProtocol):
    """Records what the server writes to each connection, and whether writing was paused."""

    max_header_bytes = 16 * 1024
    header_timeout = 10.0
    writes: list[bytes] = []
    paused = threading.Event()
    resumed = threading.Event()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(_Counting(transport))  # type: ignore[arg-type]

    def pause_writing(self) -> None:
        Recording.paused.set()
        super().pause_writing()

    def resume_writing(self) -> None:
        Recording.resumed.set()
        super().resume_writing()


class _Counting:
    def __init__(self, transport: Any) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        Recording.writes.append(bytes(data))
        self._transport.write(data)

    def writelines(self, data: Any) -> None:
        Recording.writes.append(b"".join(data))
        self._transport.writelines(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


release = threading.Event()


@get("/short")
async def short() -> dict[str, str]:
    return {"ok": "yes"}


@get("/late", media_type="text/event-stream")
async def late() -> Stream:
    async def frames() -> AsyncIterator[bytes]:
        await anyio.to_thread.run_sync(release.wait)
        yield b"data: late\n\n"

    return Stream(frames())


@get("/big", media_type="application/octet-stream")
async def big() -> Stream:
    async def chunks() -> AsyncIterator[bytes]:
        for index in range(BIG):
            yield bytes([index % 251]) * CHUNK

    return Stream(chunks())


@post("/echo", status_code=200)
async def echo(request: Request[Any, Any, Any]) -> bytes:
    return await request.body()


@pytest.fixture
def server() -> Iterator[ServerThread]:
    Recording.writes.clear()
    Recording.paused.clear()
    Recording.resumed.clear()
    release.clear()
    with ServerThread(Litestar([short, late, big, echo], logging_config=None), http=Recording) as running:
        yield running


def read_response(sock: socket.socket, received: bytes = b"") -> tuple[bytes, bytes]:
    """One response with a ``content-length`` from ``sock``: (the response, what came after it)."""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, rest = received.partition(b"\r\n\r\n")
    length = int(
        next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")).split(b":")[1]
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


def test_a_short_response_is_one_write(server: ServerThread) -> None:
    with socket.create_connection((server.host, server.port), timeout=20) as sock:
        sock.sendall(b"GET /short HTTP/1.1\r\nHost: test\r\n\r\n")
        response, _ = read_response(sock)
    assert response.startswith(b"HTTP/1.1 200 OK\r\n") and response.endswith(b'{"ok":"yes"}')
    assert Recording.writes == [response]


def test_headers_go_out_alone_when_the_first_frame_is_late(server: ServerThread) -> None:
    with socket.create_connection((server.host, server.port), timeout=20) as sock:
        sock.sendall(b"GET /late HTTP/1.1\r\nHost: test\r\n\r\n")
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        assert received.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"data: late" not in received  # the headers came before the frame was made
        release.set()
        while not received.endswith(b"0\r\n\r\n"):
            received += sock.recv(65536)
    assert b"data: late\n\n" in received
    assert Recording.writes[0] == received.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"


def test_pipelined_requests_are_answered_in_order(server: ServerThread) -> None:
    with socket.create_connection((server.host, server.port), timeout=20) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nfirst"
            b"GET /short HTTP/1.1\r\nHost: test\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nthird"
        )
        first, rest = read_response(sock)
        second, rest = read_response(sock, rest)
        third, rest = read_response(sock, rest)
    assert first.endswith(b"\r\n\r\nfirst") and second.endswith(b'{"ok":"yes"}') and third.endswith(b"\r\n\r\nthird")
    assert rest == b""


def test_a_body_sent_after_100_continue_is_read(server: ServerThread) -> None:
    with socket.create_connection((server.host, server.port), timeout=20) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        assert received == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        sock.sendall(b"world")  # the rest of the body in a second part: receive() waits for it
        response, _ = read_response(sock)
    assert response.startswith(b"HTTP/1.1 200 OK\r\n") and response.endswith(b"\r\n\r\nhelloworld")


def test_a_client_too_slow_to_read_pauses_the_writing_and_gets_every_byte(server: ServerThread) -> None:
    with socket.create_connection((server.host, server.port), timeout=20) as sock:
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        assert Recording.paused.wait(20)  # not reading: the server's buffer filled up
        received = bytearray()
        while chunk := sock.recv(1 << 20):
            received += chunk
    assert Recording.resumed.is_set()
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    decoded = bytearray()
    while True:  # chunked transfer encoding
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        decoded += body[:size]
        body = body[size + 2 :]
    assert len(decoded) == BIG * CHUNK
    assert all(decoded[index * CHUNK] == index % 251 for index in range(BIG))
