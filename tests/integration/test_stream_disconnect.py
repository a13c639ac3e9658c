"""Under ``serve``'s protocol a quiet SSE stream learns that its client left from the connection
itself (no task waiting in ``receive()``), and ends at once; a keep-alive connection's next
response is not ended by an earlier one's callback."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from litestar import Litestar, get

from proxy.api import streaming
from proxy.api.sse import event_stream
from proxy.serving import BoundedHttpToolsProtocol
from proxy.simulator import ServerThread


class Bounds(BoundedHttpToolsProtocol):
    max_header_bytes = 16 * 1024
    header_timeout = 10.0


opened = threading.Event()
closed = threading.Event()


@get("/quiet", media_type="text/event-stream")
async def quiet() -> Any:
    async def frames() -> AsyncIterator[bytes]:
        try:
            yield b"data: 0\n\n"
            opened.set()
            await asyncio.Event().wait()  # a quiet run: only the client leaving ends this response
            yield b"data: never\n\n"
        finally:
            closed.set()

    return event_stream(frames())


@get("/short", media_type="text/event-stream")
async def short() -> Any:
    async def frames() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"

    return event_stream(frames())


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every ``receive()`` watcher a response starts."""
    started: list[str] = []
    original = streaming._disconnected

    async def recording(receive: Any) -> None:
        started.append("watcher")
        await original(receive)

    monkeypatch.setattr(streaming, "_disconnected", recording)
    return started


@pytest.fixture
def server() -> Iterator[ServerThread]:
    opened.clear()
    closed.clear()
    with ServerThread(Litestar([quiet, short]), http=Bounds) as running:
        yield running


def test_a_client_leaving_a_quiet_stream_ends_it_without_a_watcher_task(
    server: ServerThread, watched: list[str]
) -> None:
    with socket.create_connection((server.host, server.port), timeout=20) as sock:
        sock.sendall(b"GET /quiet HTTP/1.1\r\nHost: test\r\n\r\n")
        received = b""
        while b"data: 0" not in received:
            received += sock.recv(65536)
        assert b"200 OK" in received
        assert opened.wait(20)
    assert closed.wait(20)  # the frames' ``finally`` ran: the response ended with the connection
    assert watched == []


def test_responses_on_a_kept_alive_connection_end_normally(server: ServerThread, watched: list[str]) -> None:
    with httpx.Client(base_url=server.url, timeout=20) as client:
        bodies = [client.get("/short").text for _ in range(3)]
    assert bodies == ["data: 1\n\n"] * 3
    assert watched == []
