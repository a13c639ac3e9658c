"""``serve`` bounds request headers: a header that never ends gets 431, headers that never finish
arriving get 408 and the connection closed, while ordinary requests (keep-alive, large bodies)
are untouched."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from proxy.serving import BoundedHttpToolsProtocol, server_options
from proxy.settings import Settings
from proxy.simulator import ServerThread, SimulatorServer
from tests.integration.hardening.conftest import SHOP_ORIGIN, serve


class TightBounds(BoundedHttpToolsProtocol):
    max_header_bytes = 16 * 1024
    header_timeout = 1.0


@pytest.fixture(scope="module")
def bounded(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory, simulator: SimulatorServer
) -> Iterator[ServerThread]:
    options = {**server_options(Settings(_env_file=None)), "http": TightBounds}  # type: ignore[call-arg]
    with serve(pg_url, Path(tmp_path_factory.mktemp("bounds")), simulator, uvicorn=options) as server:
        yield server


def answer(server: ServerThread, *chunks: bytes) -> bytes:
    """Send the chunks (as far as the server lets us), then read until it closes the connection."""
    with socket.create_connection((server.host, server.port), timeout=20) as sock:
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the end: the answer is waiting
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
        except ConnectionResetError:
            pass
        return received


def test_a_header_that_never_ends_gets_431(bounded: ServerThread) -> None:
    start = b"GET /healthz HTTP/1.1\r\nHost: proxy\r\nX-Padding: "
    reply = answer(bounded, start, *([b"a" * 65536] * 256))  # 16 MB, never finished
    assert reply.startswith(b"HTTP/1.1 431")


def test_headers_that_never_finish_arriving_get_408(bounded: ServerThread) -> None:
    reply = answer(bounded, b"GET /healthz HTTP/1.1\r\nHost: proxy\r\n")  # and then nothing
    assert reply.startswith(b"HTTP/1.1 408")


def test_a_silent_connection_is_closed(bounded: ServerThread) -> None:
    assert answer(bounded).startswith(b"HTTP/1.1 408")


def test_ordinary_requests_are_untouched(bounded: ServerThread) -> None:
    with httpx.Client(base_url=bounded.url, timeout=20) as http:
        for _ in range(3):  # one keep-alive connection
            assert http.get("/healthz").status_code == 200
        big = http.post("/v1/threads", content=b'{"identity_token": "' + b"x" * 60_000 + b'"}', headers=SHOP_ORIGIN)
        assert big.status_code in (400, 413)
        assert http.get("/healthz", headers={"X-Fine": "b" * 8000}).status_code == 200


def test_serve_runs_uvicorn_with_the_bounded_protocol() -> None:
    async def app(scope: dict[str, object], receive: object, send: object) -> None:  # pragma: no cover
        raise AssertionError("not called")

    config = uvicorn.Config(app, lifespan="off", **server_options(Settings(_env_file=None)))  # type: ignore[call-arg]
    config.load()
    assert config.http_protocol_class is BoundedHttpToolsProtocol
    assert config.h11_max_incomplete_event_size == 64 * 1024
