"""The chat and responses engines' streamed requests over the process's aiohttp session
(``ProviderPool``), against the simulator and against a local aiohttp server whose answers each
test writes: the request sent, retries before the stream, status and stream errors, timeouts,
connections kept between turns and closed when a turn is left early.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import openai
import pytest
from aiohttp import web

from proxy.engines.base import AssistantProfile, Engine, TextDelta, Turn, TurnFinished
from proxy.engines.chat import ChatEngine
from proxy.engines.context import Chain
from proxy.engines.provider_http import ProviderPool
from proxy.engines.responses import ResponsesEngine
from proxy.simulator import SimulatorServer
from proxy.simulator.faults import SERVER_ERROR
from proxy.tools.registry import ToolContext, ToolRegistry
from tests.integration.engines.conftest import logged
from tests.support.engines import reply_text, run_turn

pytestmark = pytest.mark.integration

NO_TOOLS = ToolRegistry().subset([])


def turn(text: str, conversation_id: str | None = None) -> Turn:
    return Turn(conversation_id, text, NO_TOOLS, ToolContext(tenant="t1", thread_id="th_1"))


@asynccontextmanager
async def pooled(
    base_url: str, *, retries: int = 0, read_timeout: float = 30.0, **client: Any
) -> AsyncIterator[openai.AsyncOpenAI]:
    """An SDK client as the factory builds one over the aiohttp pool (``PROXY_PROVIDER_TRANSPORT=aiohttp``)."""
    async with ProviderPool(connect_timeout=5.0, read_timeout=read_timeout) as pool:
        yield openai.AsyncOpenAI(base_url=base_url, api_key="sk-pool", http_client=pool, max_retries=retries, **client)


def chat(client: openai.AsyncOpenAI) -> Engine:
    return ChatEngine(client, AssistantProfile(model="gpt-4o-mini"))


def responses(client: openai.AsyncOpenAI) -> Engine:
    return ResponsesEngine(client, AssistantProfile(model="gpt-4o-mini", context="history"))


ENGINES = {"chat": chat, "responses": responses}


@pytest.fixture(params=list(ENGINES))
def build(request: pytest.FixtureRequest) -> Callable[[openai.AsyncOpenAI], Engine]:
    return ENGINES[request.param]


# -- over the simulator --------------------------------------------------------------------------


async def test_turns_stream_over_the_pool(simulator: SimulatorServer, control: httpx2.AsyncClient, build) -> None:
    async with pooled(simulator.base_url) as client:
        events, error = await run_turn(build(client), turn("[[reply:Hello there, visitor.]] Hi"))

    assert error is None and isinstance(events[-1], TurnFinished)
    assert reply_text(events) == "Hello there, visitor."
    assert events[-1].usage.output_tokens > 0


@pytest.mark.parametrize(
    ("fault", "code", "retryable"),
    [
        ("429", "upstream_rate_limited", True),
        ("quota", "upstream_quota", False),
        ("500", "upstream_unavailable", True),
        ("401", "upstream_auth", False),
    ],
)
async def test_status_errors_are_mapped(
    simulator: SimulatorServer, control: httpx2.AsyncClient, build, fault: str, code: str, retryable: bool
) -> None:
    (await control.post("/faults", json={"next": [fault]})).raise_for_status()

    async with pooled(simulator.base_url) as client:
        events, error = await run_turn(build(client), turn("Hi"))

    assert events == []
    assert error is not None and (error.code, error.retryable) == (code, retryable)


async def test_a_failed_status_is_retried_before_the_stream(
    simulator: SimulatorServer, control: httpx2.AsyncClient, build
) -> None:
    (await control.post("/faults", json={"next": ["500"]})).raise_for_status()

    async with pooled(simulator.base_url, retries=1) as client:
        events, error = await run_turn(build(client), turn("[[reply:Second time lucky.]] Hi"))

    assert error is None and reply_text(events) == "Second time lucky."
    assert len(await logged(control, "")) == 2


@pytest.mark.parametrize(
    ("fault", "code"),
    [("cut", "upstream_stream_cut"), ("failed", "upstream_failed"), ("run_rate_limit", "upstream_rate_limited")],
)
async def test_failures_inside_the_stream_end_the_turn_and_are_not_retried(
    simulator: SimulatorServer, control: httpx2.AsyncClient, build, fault: str, code: str
) -> None:
    (await control.post("/faults", json={"next": [fault]})).raise_for_status()

    async with pooled(simulator.base_url, retries=2) as client:
        _, error = await run_turn(build(client), turn("Hi"))

    assert error is not None and error.code == code
    assert len(await logged(control, "")) == 1


async def test_an_error_object_inside_a_chat_stream_carries_the_provider_message(
    simulator: SimulatorServer, control: httpx2.AsyncClient
) -> None:
    (await control.post("/faults", json={"next": ["failed"]})).raise_for_status()

    async with pooled(simulator.base_url) as client:
        events, error = await run_turn(chat(client), turn("Hi"))
        whole, _ = await run_turn(chat(client), turn("Hi"))

    assert {type(e) for e in events} == {TextDelta}  # the text before the error (a read's tokens are one delta)
    assert 0 < len(_text(events)) < len(reply_text(whole)) and reply_text(whole).startswith(_text(events))
    assert error is not None and error.code == "upstream_failed" and error.retryable
    assert error.message == SERVER_ERROR.message


async def test_closing_the_turn_closes_the_provider_stream_at_once(
    simulator: SimulatorServer, control: httpx2.AsyncClient, build
) -> None:
    (await control.post("/faults", json={"next": ["stall"]})).raise_for_status()

    async with pooled(simulator.base_url) as client:
        async with aclosing(build(client).stream_turn(turn("Hi"))) as events:
            assert isinstance(await anext(events), TextDelta)
        # the simulator saw the client go while the pool (and its session) is still open
        requests = (await control.get("/requests", params={"min_disconnected": 1, "timeout": 10})).json()
    assert [r["disconnected"] for r in requests["requests"]] == [True]


async def test_a_cancelled_turn_closes_the_provider_stream(
    simulator: SimulatorServer, control: httpx2.AsyncClient, build
) -> None:
    (await control.post("/faults", json={"next": ["stall"]})).raise_for_status()
    first = anyio.Event()

    async with pooled(simulator.base_url) as client:

        async def consume() -> None:
            async with aclosing(build(client).stream_turn(turn("Hi"))) as events:
                async for _ in events:
                    first.set()
                    await anyio.Event().wait()  # busy with the event when the visitor leaves

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await first.wait()
            tg.cancel_scope.cancel()
        requests = (await control.get("/requests", params={"min_disconnected": 1, "timeout": 10})).json()
    assert [r["disconnected"] for r in requests["requests"]] == [True]


async def test_a_silent_stream_times_out(simulator: SimulatorServer, control: httpx2.AsyncClient, build) -> None:
    (await control.post("/faults", json={"next": ["stall"]})).raise_for_status()

    async with pooled(simulator.base_url, read_timeout=0.5) as client:
        events, error = await run_turn(build(client), turn("Hi"))
        whole, _ = await run_turn(build(client), turn("Hi"))

    assert {type(e) for e in events} == {TextDelta}  # the text before the silence, and nothing else
    assert 0 < len(_text(events)) < len(reply_text(whole)) and reply_text(whole).startswith(_text(events))
    assert error is not None and (error.code, error.retryable) == ("upstream_timeout", True)


async def test_a_refused_connection_is_unavailable(build) -> None:
    with SimulatorServer() as gone:
        url = gone.base_url  # a port nothing listens on any more
    async with pooled(url) as client:
        _, error = await run_turn(build(client), turn("Hi"))

    assert error is not None and (error.code, error.retryable) == ("upstream_unavailable", True)


async def test_the_environment_s_proxy_carries_the_streams(
    simulator: SimulatorServer, build, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``HTTP_PROXY`` is honoured, read once per provider: the simulator, which serves an absolute
    request target as its own, stands in for a forward proxy to a host that does not resolve."""
    monkeypatch.setenv("HTTP_PROXY", simulator.base_url.removesuffix("/v1"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with pooled("http://provider.invalid/v1") as client:
        engine = build(client)
        for _ in range(2):
            events, error = await run_turn(engine, turn("[[reply:Through the proxy.]] Hi"))
            assert error is None and reply_text(events) == "Through the proxy."


async def test_no_proxy_sends_the_streams_direct(
    simulator: SimulatorServer, build, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", simulator.base_url.removesuffix("/v1"))
    monkeypatch.setenv("NO_PROXY", "provider.invalid")
    async with pooled("http://provider.invalid/v1") as client:
        _, error = await run_turn(build(client), turn("Hi"))

    assert error is not None and error.code == "upstream_unavailable"


async def test_the_sdk_calls_share_the_pool(simulator: SimulatorServer, control: httpx2.AsyncClient) -> None:
    """Conversations go through the SDK, over the same session as the streamed turns."""
    async with pooled(simulator.base_url) as client:
        engine = ResponsesEngine(client, AssistantProfile(model="gpt-4o-mini", context="conversations"))
        conversation = await engine.create_conversation()
        events, error = await run_turn(engine, turn("Hello", conversation))
        await engine.delete_conversation(conversation)

    assert error is None and reply_text(events).startswith("Echo: Hello.")
    [body] = await logged(control, "/responses")
    assert body["conversation"] == conversation


# -- against a local server whose answers each test writes ------------------------------------------

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    method: str
    path_qs: str
    headers: dict[str, str]
    body: Any
    peer: tuple[str, int]


@dataclass
class Scripted:
    """A provider on 127.0.0.1: each request gets the next scripted answer."""

    base_url: str = ""
    answers: deque[Answer] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    released: anyio.Event = field(default_factory=anyio.Event)  # set at teardown: stalled answers end

    def then(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    @property
    def connections(self) -> int:
        return len({s.peer for s in self.seen})


@pytest.fixture
async def server() -> AsyncIterator[Scripted]:
    scripted = Scripted()

    async def handle(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else ("?", 0)
        scripted.seen.append(
            Seen(request.method, request.path_qs, dict(request.headers), json.loads(raw) if raw else None, peer)
        )
        if not scripted.answers:
            return web.json_response({"error": {"message": "nothing scripted"}}, status=500)
        return await scripted.answers.popleft()(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    scripted.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield scripted
    finally:
        scripted.released.set()
        await runner.cleanup()


def _text(events: Sequence[Any]) -> str:
    return "".join(e.delta for e in events if isinstance(e, TextDelta))


def chunk(text: str, *, finish: str | None = None, n: int = 1) -> bytes:
    payload = {"id": f"chatcmpl-{n}", "object": "chat.completion.chunk", "choices": []}
    if text or finish:
        payload["choices"] = [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]
    return f"data: {json.dumps(payload)}\n\n".encode()


def sse(*parts: bytes, headers: dict[str, str] | None = None) -> Answer:
    """A 200 streaming ``parts``, each written (and flushed) on its own."""

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **(headers or {})})
        await response.prepare(request)
        for part in parts:
            await response.write(part)
        await response.write_eof()
        return response

    return answer


def stalled(server: Scripted, *parts: bytes) -> Answer:
    """A 200 streaming ``parts``, then nothing more until the test ends."""

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for part in parts:
            await response.write(part)
        await server.released.wait()
        return response

    return answer


def text_reply(text: str = "Hi there.", n: int = 1) -> Answer:
    return sse(chunk(text, n=n), chunk("", finish="stop", n=n), b"data: [DONE]\n\n")


def status(code: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        if isinstance(body, str):
            return web.Response(status=code, text=body, headers=headers)
        return web.json_response(body, status=code, headers=headers)

    return answer


async def hang_up(request: web.Request) -> web.StreamResponse:
    """The connection closes without an answer (a reset before the status line)."""
    assert request.transport is not None
    request.transport.close()
    raise ConnectionResetError


ERROR_503 = {"error": {"message": "overloaded", "type": "server_error", "code": None}}


async def test_the_request_carries_what_the_sdk_client_sends(server: Scripted) -> None:
    server.then(text_reply())
    extra = {"default_query": {"api-version": "2025-01-01"}, "default_headers": {"X-Tenant-Header": "t1"}}

    async with pooled(server.base_url, organization="org-1", **extra) as client:
        _, error = await run_turn(chat(client), turn("Hi"))

    assert error is None
    [seen] = server.seen
    assert (seen.method, seen.path_qs) == ("POST", "/v1/chat/completions?api-version=2025-01-01")
    assert seen.headers["Authorization"] == "Bearer sk-pool"
    assert seen.headers["Accept"] == "text/event-stream"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["OpenAI-Organization"] == "org-1"
    assert seen.headers["X-Tenant-Header"] == "t1"
    assert seen.headers["User-Agent"].startswith("AsyncOpenAI/Python")
    assert seen.body["stream"] is True and seen.body["messages"][-1] == {"role": "user", "content": "Hi"}


async def test_retries_honour_retry_after_ms(server: Scripted) -> None:
    server.then(
        status(503, ERROR_503, {"retry-after-ms": "5"}),
        status(429, {"error": {"message": "slow down", "code": "rate_limit_exceeded"}}, {"retry-after": "0.01"}),
        text_reply("Third time."),
    )

    async with pooled(server.base_url, retries=2) as client:
        events, error = await run_turn(chat(client), turn("Hi"))

    assert error is None and reply_text(events) == "Third time."
    assert len(server.seen) == 3


async def test_retries_stop_at_the_limit(server: Scripted) -> None:
    server.then(*(status(503, ERROR_503, {"retry-after-ms": "1"}) for _ in range(3)))

    async with pooled(server.base_url, retries=1) as client:
        _, error = await run_turn(chat(client), turn("Hi"))

    assert error is not None and error.code == "upstream_unavailable"
    assert len(server.seen) == 2


@pytest.mark.parametrize(
    ("headers", "code", "body"),
    [
        ({"x-should-retry": "false"}, 503, ERROR_503),  # the server says no
        ({"retry-after": "300"}, 503, ERROR_503),  # longer than the SDK waits
        ({}, 400, {"error": {"message": "bad model", "code": "model_not_found"}}),  # not a retried status
        ({}, 404, {"error": {"message": "no such model"}}),
    ],
)
async def test_what_is_not_retried(server: Scripted, headers: dict[str, str], code: int, body: Any) -> None:
    server.then(status(code, body, headers), text_reply())

    async with pooled(server.base_url, retries=2) as client:
        _, error = await run_turn(chat(client), turn("Hi"))

    assert error is not None and len(server.seen) == 1


async def test_x_should_retry_true_retries_a_status_that_is_not_retried_otherwise(server: Scripted) -> None:
    server.then(status(400, {"error": {"message": "try again"}}, {"x-should-retry": "true"}), text_reply("Ok."))

    async with pooled(server.base_url, retries=1) as client:
        events, error = await run_turn(chat(client), turn("Hi"))

    assert error is None and reply_text(events) == "Ok."


async def test_a_connection_closed_before_the_answer_is_retried(server: Scripted) -> None:
    server.then(hang_up, text_reply("After the reset."))

    async with pooled(server.base_url, retries=1) as client:
        events, error = await run_turn(chat(client), turn("Hi"))

    assert error is None and reply_text(events) == "After the reset."


async def test_a_connection_closed_before_the_answer_without_retries(server: Scripted) -> None:
    server.then(hang_up)

    async with pooled(server.base_url) as client:
        _, error = await run_turn(chat(client), turn("Hi"))

    assert error is not None and (error.code, error.retryable) == ("upstream_unavailable", True)


@pytest.mark.parametrize(
    ("code", "body", "expected", "message"),
    [
        (400, {"error": {"message": "bad model", "param": "model"}}, "upstream_bad_request", "bad model"),
        (400, "plain text, not JSON", "upstream_bad_request", "Error code: 400 - plain text, not JSON"),
        (400, {"error": {"message": "busy", "code": "conversation_locked"}}, "upstream_bad_request", "Another reply"),
        (403, {"error": {"message": "key revoked"}}, "upstream_auth", "key revoked"),
        (404, {"detail": "Not Found"}, "upstream_not_found", "Error code: 404"),
        (502, "<html>bad gateway</html>", "upstream_unavailable", "(502)"),
    ],
)
async def test_status_answers_map_as_through_the_sdk(
    server: Scripted, code: int, body: Any, expected: str, message: str
) -> None:
    server.then(status(code, body))

    async with pooled(server.base_url) as client:
        _, error = await run_turn(chat(client), turn("Hi"))

    assert error is not None and error.code == expected and message in error.message


async def test_a_previous_response_unknown_to_the_server_falls_back_to_the_transcript(server: Scripted) -> None:
    """The responses engine tells an unknown chained response from other 400s by the status
    error's body, which the direct path keeps as the SDK did."""
    gone = {"error": {"message": "Previous response not found.", "param": "previous_response_id"}}
    done = {"type": "response.completed", "response": {"id": "resp_2", "output": [], "usage": None}}
    server.then(
        status(400, gone),
        sse(
            b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", "item_id": "m", '
            b'"delta": "Again."}\n\n',
            f"event: response.completed\ndata: {json.dumps(done)}\n\n".encode(),
        ),
    )
    chain = Chain("resp_1").dump()

    async with pooled(server.base_url) as client:
        engine = ResponsesEngine(client, AssistantProfile(model="m", context="previous_response"))
        events, error = await run_turn(engine, turn("Hi", chain))

    assert error is None and events[0] == TextDelta("m", "Again.")
    assert [s.body.get("previous_response_id") for s in server.seen] == ["resp_1", None]


async def test_events_split_anywhere_and_crlf_arrive_whole(server: Scripted) -> None:
    """Written a few bytes at a time, CRLF line endings, comments, a multi-line data field."""
    body = (
        b": keep-alive\r\n\r\n"
        + chunk("Gr\u00fc\u00df ").replace(b"\n", b"\r\n")
        + b'data: {"id": "chatcmpl-1", "object": "chat.completion.chunk",\ndata: "choices": [{"index": 0, '
        b'"delta": {"content": "dich."}, "finish_reason": null}]}\n\n' + chunk("", finish="stop") + b"data: [DONE]\n\n"
    )
    server.then(sse(*(body[i : i + 3] for i in range(0, len(body), 3))))

    async with pooled(server.base_url) as client:
        events, error = await run_turn(chat(client), turn("Hi"))

    assert error is None and reply_text(events) == "Gr\u00fc\u00df dich."


async def test_done_ends_the_stream_and_keeps_the_connection(server: Scripted) -> None:
    server.then(*(text_reply(f"Reply {n}.", n) for n in range(3)))

    async with pooled(server.base_url) as client:
        engine = chat(client)
        for n in range(3):
            events, error = await run_turn(engine, turn("Hi"))
            assert error is None and reply_text(events) == f"Reply {n}."

    assert server.connections == 1


async def test_a_stream_ending_without_done_keeps_the_connection_too(server: Scripted) -> None:
    done = {"type": "response.completed", "response": {"id": "resp_1", "output": [], "usage": None}}
    reply = sse(
        b'data: {"type": "response.output_text.delta", "item_id": "m", "delta": "Hi."}\n\n',
        f"data: {json.dumps(done)}\n\n".encode(),
    )
    server.then(reply, reply)

    async with pooled(server.base_url) as client:
        engine = responses(client)
        for _ in range(2):
            events, error = await run_turn(engine, turn("Hi"))
            assert error is None and events[0] == TextDelta("m", "Hi.")

    assert server.connections == 1


async def test_a_turn_left_early_does_not_leave_its_connection_for_the_next(server: Scripted) -> None:
    """The unfinished answer's connection is closed, so the next turn does not read its rest."""
    server.then(stalled(server, chunk("Never", n=1), chunk(" finished", n=1)), text_reply("Next.", 2))

    async with pooled(server.base_url) as client:
        engine = chat(client)
        async with aclosing(engine.stream_turn(turn("Hi"))) as events:
            first = await anext(events)  # "Never", or " finished" with it when one read brought both
            assert isinstance(first, TextDelta) and first.delta.startswith("Never")
        events2, error = await run_turn(engine, turn("Again"))

    assert error is None and reply_text(events2) == "Next."
    assert server.connections == 2


async def test_malformed_json_in_an_event_fails_the_turn(server: Scripted) -> None:
    server.then(sse(chunk("Hel"), b"data: {not json\n\n"))

    async with pooled(server.base_url) as client:
        events, error = await run_turn(chat(client), turn("Hi"))

    assert events == [TextDelta("chatcmpl-1", "Hel")]
    assert error is not None and error.code == "upstream_failed"
