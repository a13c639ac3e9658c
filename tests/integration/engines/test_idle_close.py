"""The SDK's calls over both provider transports, against a server that closes a kept-alive
connection as a request arrives on it (as uvicorn does when its keep-alive time-out meets the
request): the call is sent once more on a new connection, even with no retries allowed, and a
server that closes every time is reported as a connection error after exactly one more try.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx2
import openai
import pytest

from proxy.engines.provider_http import ProviderPool
from proxy.engines.proxied import EnvironmentProxied, HttpxPool

pytestmark = pytest.mark.integration

CONVERSATION = b'{"id":"conv_1","object":"conversation","created_at":1,"metadata":{}}'

POOLS: dict[str, Callable[[], EnvironmentProxied]] = {
    "aiohttp": lambda: ProviderPool(connect_timeout=5.0, read_timeout=5.0),
    "httpx": lambda: HttpxPool(timeout=httpx2.Timeout(5.0), limits=httpx2.Limits()),
}


@dataclass
class ClosingServer:
    """Answers requests with keep-alive, but closes without answering the requests whose number
    (1-based, over all connections) is in ``close_on``, or every request when ``close_on`` is None."""

    close_on: set[int] | None
    status: bytes = b"200 OK"
    broken: bytes | None = None  # answer every request with these bytes, then close
    requests: int = 0
    connections: int = 0
    bodies: list[bytes] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.bodies.append(await reader.readexactly(length))
                self.requests += 1
                if self.close_on is None or self.requests in self.close_on:
                    return  # closed with the request unanswered
                if self.broken is not None:
                    writer.write(self.broken)
                    await writer.drain()
                    return
                writer.write(
                    b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                    % (self.status, len(CONVERSATION), CONVERSATION)
                )
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass  # the client closed the connection
        finally:
            writer.close()


@asynccontextmanager
async def client_of(server: ClosingServer, pool_kind: str) -> AsyncIterator[openai.AsyncOpenAI]:
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        async with POOLS[pool_kind]() as pool:
            yield openai.AsyncOpenAI(
                api_key="sk-test", base_url=f"http://127.0.0.1:{port}/v1", http_client=pool, max_retries=0
            )
    finally:
        listening.close()


@pytest.mark.parametrize("pool_kind", POOLS)
async def test_a_call_the_server_closed_the_kept_connection_on_is_sent_again(pool_kind: str) -> None:
    server = ClosingServer(close_on={2})
    async with client_of(server, pool_kind) as client:
        first = await client.conversations.create(metadata={"n": "1"})
        second = await client.conversations.create(metadata={"n": "2"})

    assert first.id == second.id == "conv_1"
    assert server.requests == 3 and server.connections == 2
    assert server.bodies[1] == server.bodies[2]  # the same request, once more


@pytest.mark.parametrize("pool_kind", POOLS)
async def test_a_server_that_always_closes_is_a_connection_error_after_one_more_try(pool_kind: str) -> None:
    server = ClosingServer(close_on=None)
    async with client_of(server, pool_kind) as client:
        with pytest.raises(openai.APIConnectionError) as raised:
            await client.conversations.create()

    assert not isinstance(raised.value, openai.APITimeoutError)  # not mistaken for a slow network
    assert server.requests == 2


@pytest.mark.parametrize("pool_kind", POOLS)
async def test_an_answered_failure_is_not_sent_again(pool_kind: str) -> None:
    """A status is the SDK's retries' business (none here), not one more try of ours."""
    server = ClosingServer(close_on=set(), status=b"500 Internal Server Error")
    async with client_of(server, pool_kind) as client:
        with pytest.raises(openai.InternalServerError):
            await client.conversations.create()

    assert server.requests == 1


MALFORMED_HEAD = b"HTTP/1.1 two hundred OK\r\n\r\n"
CUT_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: appl"


# (a head cut off looks to httpx2 as no answer at all: "Server disconnected without sending a response")
@pytest.mark.parametrize(
    ("pool_kind", "broken"),
    [("aiohttp", MALFORMED_HEAD), ("httpx", MALFORMED_HEAD), ("aiohttp", CUT_HEAD)],
    ids=["malformed-head-aiohttp", "malformed-head-httpx", "cut-head-aiohttp"],
)
async def test_a_request_the_server_answered_brokenly_is_not_sent_again(pool_kind: str, broken: bytes) -> None:
    """The server read the request and began to answer it: it may have acted on it (a conversation
    made), so it is not sent once more."""
    server = ClosingServer(close_on=set(), broken=broken)
    async with client_of(server, pool_kind) as client:
        with pytest.raises(Exception):  # noqa: B017 (which one is the transport's: the count is the point)
            await client.conversations.create()

    assert server.requests == 1
