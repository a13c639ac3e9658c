"""A turn's provider stream held between the stream's writes (``proxy.engines.wire.pacing``), over
real sockets: the chat engine on our provider client, against a server on 127.0.0.1 whose answers
the test writes piece by piece. What arrives while the reading is held reaches the turn in order,
a tool call arriving then is run, the end still ends the turn, the first token is never held, and
the read timeout still fires."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, cast

import openai
import pytest

from proxy.engines.base import (
    AssistantProfile,
    EngineError,
    MessageCompleted,
    ReadPace,
    TextDelta,
    ToolFinished,
    ToolStarted,
    Turn,
    TurnFinished,
)
from proxy.engines.chat import ChatEngine
from proxy.engines.provider_http import ProviderPool
from proxy.engines.wire.connection import Connection
from proxy.tools.registry import Tool, ToolContext, ToolRegistry
from tests.support.engines import ORDER_SCHEMA, lookup_order

pytestmark = pytest.mark.integration

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
REGISTRY = ToolRegistry()
REGISTRY.register(Tool("lookup_order", "Look an order up by its number.", ORDER_SCHEMA, lookup_order))


class Provider:
    """A server that hands each request's connection to the test, which writes the answer."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                sizes = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
                await reader.readexactly(int(sizes[0].split(b":")[1]))
                await self.requests.put(writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    scripted = Provider()
    server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
    scripted.port = server.sockets[0].getsockname()[1]
    async with server:
        yield scripted


def engine_on(provider: Provider, pool: ProviderPool) -> ChatEngine:
    client = openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{provider.port}/v1", api_key="sk-test", max_retries=0, http_client=pool
    )
    return ChatEngine(client, AssistantProfile(model="gpt-4o-mini"))


def turn(pace: ReadPace) -> Turn:
    tools = REGISTRY.subset(["lookup_order"])
    return Turn(None, "Where is A1?", tools, ToolContext(tenant="t1", thread_id="th_1"), pace=pace)


def cx(delta: dict[str, Any] | None = None, finish: str | None = None) -> bytes:
    """A Chat Completions chunk as one piece of a chunked body."""
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta or {}}]}
    body["choices"][0]["finish_reason"] = finish
    return piece(b"data: " + json.dumps(body).encode() + b"\n\n")


def piece(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


END = piece(b"data: [DONE]\n\n") + b"0\r\n\r\n"
CALL = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "lookup_order", "arguments": ""}}


def held(pace: ReadPace) -> bool:
    conn = cast(Connection, pace.source)
    return not conn.transport.is_reading()  # type: ignore[union-attr]


async def answering(provider: Provider, pool: ProviderPool, pace: ReadPace, text: str) -> tuple[Any, Any]:
    """A turn whose provider answer has begun with ``text``, taken by the turn: its events, the answer."""
    events = engine_on(provider, pool).stream_turn(turn(pace))
    first = asyncio.ensure_future(anext(events))
    answer = await provider.requests.get()
    answer.write(HEAD + cx({"role": "assistant", "content": ""}) + cx({"content": text}))
    assert await first == TextDelta("chatcmpl-1", text)
    return events, answer


async def test_tokens_arriving_while_held_reach_the_turn_in_order_and_the_end_ends_it(provider: Provider) -> None:
    pace = ReadPace()
    async with ProviderPool(connect_timeout=5, read_timeout=30) as pool:
        events, answer = await answering(provider, pool, pace, "A")
        pace.hold(0.05)  # as the stream's reader does after writing "A"
        assert held(pace)
        for word in ("B", "C", "D"):  # each its own write, as providers send them
            answer.write(cx({"content": word}))
        answer.write(cx(finish="stop") + END)
        rest = [event async for event in events]

    # in order; those read together go on as one delta (see proxy.engines.rounds.folded)
    assert "".join(e.delta for e in rest if isinstance(e, TextDelta)) == "BCD"
    assert [e.content for e in rest if isinstance(e, MessageCompleted)] == ["ABCD"]
    assert isinstance(rest[-1], TurnFinished)


async def test_a_tool_call_arriving_while_held_is_run_and_the_turn_goes_on(provider: Provider) -> None:
    pace = ReadPace()
    async with ProviderPool(connect_timeout=5, read_timeout=30) as pool:
        events, answer = await answering(provider, pool, pace, "Let me look.")
        pace.hold(0.05)
        assert held(pace)
        answer.write(cx({"tool_calls": [CALL]}))
        answer.write(cx({"tool_calls": [{"index": 0, "function": {"arguments": '{"order": "A1"}'}}]}))
        answer.write(cx(finish="tool_calls") + END)
        seen = [await anext(events) for _ in range(3)]
        assert [type(e) for e in seen] == [MessageCompleted, ToolStarted, ToolFinished]
        assert cast(ToolFinished, seen[2]).ok

        second = asyncio.ensure_future(anext(events))
        answer = await provider.requests.get()  # the tool's output goes back in the next request
        answer.write(HEAD + cx({"content": "A1 has shipped."}) + cx(finish="stop") + END)
        assert cast(TextDelta, await second).delta == "A1 has shipped."
        rest = [event async for event in events]
    assert isinstance(rest[-1], TurnFinished)


async def test_the_first_token_is_never_held(provider: Provider) -> None:
    pace = ReadPace()
    async with ProviderPool(connect_timeout=5, read_timeout=30) as pool:
        events = engine_on(provider, pool).stream_turn(turn(pace))
        first = asyncio.ensure_future(anext(events))
        answer = await provider.requests.get()
        pace.hold(30)  # a reader that wrote text of an earlier answer: nothing of this one is read yet
        assert not held(pace)
        answer.write(HEAD + cx({"role": "assistant", "content": ""}) + cx({"content": "A"}))
        assert await first == TextDelta("chatcmpl-1", "A")
        answer.write(cx(finish="stop") + END)
        assert isinstance([event async for event in events][-1], TurnFinished)


async def test_the_read_timeout_still_fires_for_a_held_stream(provider: Provider) -> None:
    pace = ReadPace()
    async with ProviderPool(connect_timeout=5, read_timeout=0.5) as pool:
        events = engine_on(provider, pool).stream_turn(turn(pace))
        first = asyncio.ensure_future(anext(events))
        answer = await provider.requests.get()
        answer.write(HEAD + cx({"role": "assistant", "content": ""}) + cx({"content": "A"}))
        assert await first == TextDelta("chatcmpl-1", "A")

        pace.hold(5)  # longer than the read timeout: not placed, the silence must be noticed in time
        assert not held(pace)
        pace.hold(0.05)
        assert held(pace)
        with pytest.raises(EngineError) as failed:
            await anext(events)  # the provider says nothing more
    assert failed.value.code == "upstream_timeout"
