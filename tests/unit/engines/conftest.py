"""A scripted OpenAI-compatible provider behind ``httpx2.MockTransport``, and event builders.

``provider`` answers each request with the next scripted reply (real SSE bytes, a JSON error or
a raised transport error) and records every request; ``client`` is an ``AsyncOpenAI`` wired to it.
``rx`` builds Responses API events, ``cx`` Chat Completions chunks, ``make_turn`` a ``Turn`` with
the test tools below.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel
import httpx2
import openai
import pytest

from proxy.engines.base import HistoryMessage, Turn
from proxy.tools.registry import Tool, ToolContext, ToolError, ToolRegistry, ToolSet
from tests.support.engines import ORDER_SCHEMA, lookup_order

BASE_URL = "http://provider.test/v1"

# -- the scripted provider -------------------------------------------------------------------------


class Body(httpx2.AsyncByteStream):
    """A streamed body: its chunks, then optionally an error or a wait that never ends."""

    def __init__(self, chunks: list[bytes], *, error: Exception | None = None, hang: bool = False) -> None:
        self.chunks = chunks
        self.error = error
        self.hang = hang
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.error is not None:
            raise self.error
        if self.hang:
            await anyio.Event().wait()

    async def aclose(self) -> None:
        await anyio.lowlevel.checkpoint()  # like a real close: cancellable unless shielded
        self.closed = True


def encode_sse(events: Iterable[dict[str, Any]], *, done: bool = False) -> list[bytes]:
    """One SSE message per chunk; Responses events carry an ``event:`` line, chat chunks do not."""
    chunks = []
    for event in events:
        head = f"event: {event['type']}\n" if "type" in event else ""
        chunks.append(f"{head}data: {json.dumps(event)}\n\n".encode())
    if done:
        chunks.append(b"data: [DONE]\n\n")
    return chunks


@dataclass
class Seen:
    method: str
    path: str
    body: Any


Reply = httpx2.Response | Exception | Callable[[httpx2.Request], httpx2.Response]


class Provider:
    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.seen: list[Seen] = []

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.content else None
        self.seen.append(Seen(request.method, request.url.path, body))
        if not self.script:
            return httpx2.Response(500, json={"error": {"message": "nothing scripted", "type": "server_error"}})
        reply = self.script.popleft()
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(request)
        return reply

    def stream(
        self,
        events: Iterable[dict[str, Any]],
        *,
        done: bool = False,
        error: Exception | None = None,
        hang: bool = False,
    ) -> Body:
        body = Body(encode_sse(events, done=done), error=error, hang=hang)
        self.script.append(httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=body))
        return body

    def error(
        self, status: int, message: str, *, code: str | None = None, type_: str = "invalid_request_error"
    ) -> None:
        payload = {"error": {"message": message, "type": type_, "code": code, "param": None}}
        self.script.append(httpx2.Response(status, json=payload))

    def json(self, payload: Any, status: int = 200) -> None:
        self.script.append(httpx2.Response(status, json=payload))

    def raise_(self, exc: Exception) -> None:
        self.script.append(exc)

    def bodies(self, suffix: str) -> list[Any]:
        return [s.body for s in self.seen if s.path.endswith(suffix)]


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
async def client(provider: Provider) -> AsyncIterator[openai.AsyncOpenAI]:
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(provider.handler))
    sdk = openai.AsyncOpenAI(http_client=http, max_retries=0, api_key="sk-test", base_url=BASE_URL)
    yield sdk
    await sdk.close()


# -- Responses API events ----------------------------------------------------------------------------


class ResponsesEvents:
    """Builders for the SSE events of one streamed response, in the order OpenAI sends them."""

    def __init__(self) -> None:
        self.seq = 0

    def ev(self, type_: str, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        return {"type": type_, "sequence_number": self.seq, **fields}

    @staticmethod
    def response(resp_id: str, status: str, output: list[Any], usage: tuple[int, int] | None, **extra: Any) -> dict:
        body: dict[str, Any] = {
            "id": resp_id,
            "object": "response",
            "status": status,
            "model": "gpt-test",
            "output": output,
            "error": None,
            "incomplete_details": None,
            **extra,
        }
        if usage is not None:
            body["usage"] = {
                "input_tokens": usage[0],
                "output_tokens": usage[1],
                "total_tokens": sum(usage),
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            }
        return body

    @staticmethod
    def message(msg_id: str, text: str, status: str = "completed") -> dict[str, Any]:
        return {
            "type": "message",
            "id": msg_id,
            "role": "assistant",
            "status": status,
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }

    @staticmethod
    def call(call_id: str, name: str, arguments: str, item_id: str | None = None) -> dict[str, Any]:
        return {
            "type": "function_call",
            "id": item_id or f"fc_{call_id}",
            "call_id": call_id,
            "name": name,
            "arguments": arguments,
            "status": "completed",
        }

    def created(self, resp_id: str) -> dict[str, Any]:
        return self.ev("response.created", response=self.response(resp_id, "in_progress", [], None))

    def message_events(self, msg_id: str, pieces: list[str], index: int = 0) -> list[dict[str, Any]]:
        text = "".join(pieces)
        added = dict(self.message(msg_id, ""), status="in_progress", content=[])
        return [
            self.ev("response.output_item.added", output_index=index, item=added),
            self.ev(
                "response.content_part.added",
                item_id=msg_id,
                output_index=index,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": []},
            ),
            *[
                self.ev(
                    "response.output_text.delta",
                    item_id=msg_id,
                    output_index=index,
                    content_index=0,
                    delta=p,
                    logprobs=[],
                )
                for p in pieces
            ],
            self.ev(
                "response.output_text.done", item_id=msg_id, output_index=index, content_index=0, text=text, logprobs=[]
            ),
            self.ev("response.output_item.done", output_index=index, item=self.message(msg_id, text)),
        ]

    def call_events(self, call: dict[str, Any], index: int = 0) -> list[dict[str, Any]]:
        args, where = call["arguments"], {"item_id": call["id"], "output_index": index}
        half = len(args) // 2
        return [
            self.ev(
                "response.output_item.added",
                output_index=index,
                item={**call, "arguments": "", "status": "in_progress"},
            ),
            self.ev("response.function_call_arguments.delta", **where, delta=args[:half]),
            self.ev("response.function_call_arguments.delta", **where, delta=args[half:]),
            self.ev("response.function_call_arguments.done", **where, arguments=args),
            self.ev("response.output_item.done", output_index=index, item=call),
        ]

    def text(
        self, pieces: list[str], *, resp_id: str = "resp_1", msg_id: str = "msg_1", usage: tuple[int, int] = (10, 5)
    ) -> list[dict[str, Any]]:
        """A whole response answering in text."""
        done = self.response(resp_id, "completed", [self.message(msg_id, "".join(pieces))], usage)
        return [
            self.created(resp_id),
            *self.message_events(msg_id, pieces),
            self.ev("response.completed", response=done),
        ]

    def calls(self, *calls: dict[str, Any], resp_id: str = "resp_1", usage: tuple[int, int] = (20, 7)) -> list[dict]:
        """A whole response asking for function calls (build them with :meth:`call`)."""
        events = [self.created(resp_id)]
        for index, call in enumerate(calls):
            events += self.call_events(call, index)
        events.append(self.ev("response.completed", response=self.response(resp_id, "completed", list(calls), usage)))
        return events

    def failed(self, code: str, message: str, resp_id: str = "resp_1") -> list[dict[str, Any]]:
        body = self.response(resp_id, "failed", [], None)
        body["error"] = {"code": code, "message": message}
        return [self.created(resp_id), self.ev("response.failed", response=body)]

    def incomplete(self, reason: str, pieces: list[str], resp_id: str = "resp_1") -> list[dict[str, Any]]:
        body = self.response(resp_id, "incomplete", [], (10, 5), incomplete_details={"reason": reason})
        return [
            self.created(resp_id),
            *self.message_events("msg_1", pieces),
            self.ev("response.incomplete", response=body),
        ]

    def error(self, code: str, message: str) -> dict[str, Any]:
        return self.ev("error", code=code, message=message, param=None)


@pytest.fixture
def rx() -> ResponsesEvents:
    return ResponsesEvents()


# -- Chat Completions chunks -----------------------------------------------------------------------


class ChatChunks:
    """Builders for ``chat.completion.chunk`` payloads."""

    @staticmethod
    def chunk(
        content: str | None = None,
        *,
        id: str = "chatcmpl-1",
        finish: str | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
        role: str | None = None,
    ) -> dict[str, Any]:
        delta: dict[str, Any] = {}
        if role:
            delta["role"] = role
        if content is not None:
            delta["content"] = content
        if tool_calls is not None:
            delta["tool_calls"] = tool_calls
        return {
            "id": id,
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    @staticmethod
    def usage(prompt: int, completion: int, id: str = "chatcmpl-1") -> dict[str, Any]:
        return {
            "id": id,
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }

    def text(
        self,
        pieces: list[str],
        *,
        id: str = "chatcmpl-1",
        usage: tuple[int, int] | None = (10, 5),
        finish: str = "stop",
    ) -> list[dict[str, Any]]:
        chunks = [self.chunk("", id=id, role="assistant")]
        chunks += [self.chunk(p, id=id) for p in pieces]
        chunks.append(self.chunk(id=id, finish=finish))
        if usage is not None:
            chunks.append(self.usage(*usage, id=id))
        return chunks

    @staticmethod
    def call_start(index: int, call_id: str, name: str) -> dict[str, Any]:
        return {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}

    @staticmethod
    def call_args(index: int, fragment: str) -> dict[str, Any]:
        return {"index": index, "function": {"arguments": fragment}}

    def calls(self, *calls: tuple[str, str, str], id: str = "chatcmpl-1", usage: tuple[int, int] = (20, 7)) -> list:
        """A completion asking for ``(call_id, name, arguments)`` calls, arguments in two fragments."""
        chunks = [self.chunk(None, id=id, role="assistant")]
        for index, (call_id, name, args) in enumerate(calls):
            half = len(args) // 2
            chunks.append(self.chunk(id=id, tool_calls=[self.call_start(index, call_id, name)]))
            chunks.append(self.chunk(id=id, tool_calls=[self.call_args(index, args[:half])]))
            chunks.append(self.chunk(id=id, tool_calls=[self.call_args(index, args[half:])]))
        chunks.append(self.chunk(id=id, finish="tool_calls"))
        chunks.append(self.usage(*usage, id=id))
        return chunks


@pytest.fixture
def cx() -> ChatChunks:
    return ChatChunks()


# -- tools and turns ---------------------------------------------------------------------------------


async def broken(ctx: ToolContext, args: dict[str, Any]) -> str:
    raise ToolError("the order system is down")


def build_registry() -> ToolRegistry:
    """The test tools; ``meet_a`` and ``meet_b`` finish only if they run at the same time (a
    rendezvous of this registry's own, no clock involved)."""
    a, b = anyio.Event(), anyio.Event()

    async def meet_a(ctx: ToolContext, args: dict[str, Any]) -> str:
        a.set()
        await b.wait()
        return "met b"

    async def meet_b(ctx: ToolContext, args: dict[str, Any]) -> str:
        b.set()
        await a.wait()
        return "met a"

    registry = ToolRegistry()
    registry.register(Tool("lookup_order", "Look an order up.", ORDER_SCHEMA, lookup_order))
    registry.register(Tool("broken", "Always fails.", {"type": "object", "properties": {}}, broken))
    # a short timeout turns a missing rendezvous (calls run one after the other) into ok=False
    registry.register(Tool("meet_a", "Rendezvous A.", {"type": "object", "properties": {}}, meet_a, timeout=5))
    registry.register(Tool("meet_b", "Rendezvous B.", {"type": "object", "properties": {}}, meet_b, timeout=5))
    return registry


@pytest.fixture
def make_turn() -> Callable[..., Turn]:
    def make(
        text: str = "Hi",
        *,
        conversation_id: str | None = "conv_1",
        history: tuple[HistoryMessage, ...] = (),
        tools: tuple[str, ...] = ("lookup_order", "broken", "meet_a", "meet_b"),
    ) -> Turn:
        ctx = ToolContext(tenant="t1", thread_id="th_1")
        toolset: ToolSet = build_registry().subset(tools)  # a rendezvous per turn
        return Turn(conversation_id, text, toolset, ctx, history)

    return make
