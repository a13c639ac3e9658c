"""AssistantsEngine against a scripted provider speaking real Assistants SSE over httpx2."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import httpx2
import openai
import pytest

from proxy.engines.assistants import AssistantsEngine
from proxy.engines.base import (
    AssistantProfile,
    EngineError,
    MessageCompleted,
    TextDelta,
    ToolFinished,
    ToolStarted,
    Turn,
    TurnFinished,
    Usage,
)
from proxy.tools.registry import ToolContext, ToolError, ToolRegistry, ToolSet

# pytest resets warning filters after collection, so the engine module's own filters need repeating
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:proxy.engines.assistants"),
    pytest.mark.filterwarnings("ignore:The Assistants API is deprecated:DeprecationWarning"),
]

THREAD = "thread_abc"
RUN = "run_1"


# -- Assistants wire format --------------------------------------------------------------------


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


DONE = b"event: done\ndata: [DONE]\n\n"


def run_obj(status: str, *, run_id: str = RUN, **extra: Any) -> dict[str, Any]:
    return {
        "id": run_id,
        "object": "thread.run",
        "created_at": 1,
        "assistant_id": "asst_cfg",
        "thread_id": THREAD,
        "status": status,
        "model": "gpt-test",
        "instructions": "",
        "tools": [],
        "parallel_tool_calls": True,
        "usage": None,
        "last_error": None,
        "required_action": None,
        "incomplete_details": None,
        **extra,
    }


def run_event(status: str, **extra: Any) -> bytes:
    return sse(f"thread.run.{status}", run_obj(status, **extra))


def delta(text: str, msg_id: str = "msg_1") -> bytes:
    body = {"index": 0, "type": "text", "text": {"value": text, "annotations": []}}
    return sse("thread.message.delta", {"id": msg_id, "object": "thread.message.delta", "delta": {"content": [body]}})


def message_completed(text: str, msg_id: str = "msg_1") -> bytes:
    return sse(
        "thread.message.completed",
        {
            "id": msg_id,
            "object": "thread.message",
            "created_at": 1,
            "thread_id": THREAD,
            "run_id": RUN,
            "role": "assistant",
            "status": "completed",
            "assistant_id": "asst_cfg",
            "attachments": [],
            "metadata": {},
            "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
        },
    )


def completed(prompt: int = 12, completion: int = 5) -> bytes:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return run_event("completed", usage=usage)


def requires_action(*calls: tuple[str, str, dict[str, Any]]) -> bytes:
    tool_calls = [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        for call_id, name, args in calls
    ]
    action = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": tool_calls}}
    return run_event("requires_action", required_action=action)


def reply(*parts: str) -> bytes:
    """A whole successful run stream writing ``parts``."""
    deltas = b"".join(delta(p) for p in parts)
    return (
        run_event("created")
        + run_event("in_progress")
        + deltas
        + message_completed("".join(parts))
        + completed()
        + DONE
    )


def stream(body: bytes) -> httpx2.Response:
    return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})


def api_error(
    status: int, message: str, code: str | None = None, kind: str = "invalid_request_error"
) -> httpx2.Response:
    return httpx2.Response(status, json={"error": {"message": message, "type": kind, "code": code, "param": None}})


# -- a scripted provider -----------------------------------------------------------------------

Answer = httpx2.Response | Callable[[httpx2.Request], Any]


@dataclass
class Provider:
    """Answers the Assistants endpoints; run streams come from ``runs`` in order."""

    runs: list[Answer] = field(default_factory=list)
    messages: Answer | None = None
    assistants: Answer | None = None
    cancel: Answer | None = None
    threads: Answer | None = None  # creating and deleting threads
    requests: list[tuple[str, str, Any]] = field(default_factory=list)

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path.removeprefix("/v1")
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, path, body))
        answer = self._route(request.method, path)
        if callable(answer):
            answer = answer(request)
            if not isinstance(answer, httpx2.Response):
                answer = await answer
        return answer

    def _route(self, method: str, path: str) -> Answer:
        if self.threads is not None and (path == "/threads" or method == "DELETE"):
            return self.threads
        if method == "POST" and path == "/threads":
            return httpx2.Response(200, json={"id": THREAD, "object": "thread", "created_at": 1, "metadata": {}})
        if method == "DELETE" and path.startswith("/threads/"):
            return httpx2.Response(200, json={"id": THREAD, "object": "thread.deleted", "deleted": True})
        if path == "/assistants":
            return self.assistants or httpx2.Response(200, json=assistant_obj("asst_new"))
        if path.endswith("/messages"):
            return self.messages or httpx2.Response(200, json={"id": "msg_user", "object": "thread.message"})
        if method == "GET" and path.endswith("/runs"):
            return httpx2.Response(
                200,
                json={
                    "object": "list",
                    "data": [run_obj("in_progress", run_id="run_7")],
                    "first_id": "run_7",
                    "last_id": "run_7",
                    "has_more": False,
                },
            )
        if path.endswith("/cancel"):
            return self.cancel or httpx2.Response(200, json=run_obj("cancelling"))
        if path.endswith("/runs") or path.endswith("/submit_tool_outputs"):
            return self.runs.pop(0)
        return httpx2.Response(404, json={"error": {"message": f"no route {method} {path}", "type": "x"}})

    def bodies(self, suffix: str) -> list[Any]:
        return [body for method, path, body in self.requests if method == "POST" and path.endswith(suffix)]

    def cancelled(self) -> list[str]:
        return [path for _, path, _ in self.requests if path.endswith("/cancel")]


def assistant_obj(assistant_id: str) -> dict[str, Any]:
    return {"id": assistant_id, "object": "assistant", "created_at": 1, "model": "gpt-test", "tools": []}


def make_engine(provider: Provider, **profile: Any) -> AssistantsEngine:
    client = openai.AsyncOpenAI(
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(provider)),
        max_retries=0,
        api_key="sk-test",
        base_url="http://provider.test/v1",
    )
    settings = {"model": "gpt-test", "instructions": "Be brief.", "assistant_id": "asst_cfg", **profile}
    return AssistantsEngine(client, AssistantProfile(**settings))


# -- tools -------------------------------------------------------------------------------------

registry = ToolRegistry()
OBJECT = {"type": "object", "properties": {}}


@registry.tool(name="get_weather", description="Weather for a city.", parameters=OBJECT)
async def get_weather(ctx: ToolContext, args: dict[str, Any]) -> Any:
    return {"city": args.get("city"), "sky": "clear"}


@registry.tool(name="lookup_order", description="An order's status.", parameters=OBJECT)
async def lookup_order(ctx: ToolContext, args: dict[str, Any]) -> Any:
    return f"order {args['id']} shipped"


@registry.tool(name="reserve", description="Reserve an item.", parameters=OBJECT)
async def reserve(ctx: ToolContext, args: dict[str, Any]) -> Any:
    raise ToolError("out of stock")


def make_turn(
    text: str = "Hello",
    tools: Iterable[str] = ("get_weather", "lookup_order", "reserve"),
    tool_set: ToolSet | None = None,
) -> Turn:
    tool_set = registry.subset(tools) if tool_set is None else tool_set
    return Turn(THREAD, text, tool_set, ToolContext(tenant="shop", thread_id="t1"))


async def collect(engine: AssistantsEngine, turn: Turn | None = None) -> list[Any]:
    return [event async for event in engine.stream_turn(turn or make_turn())]


async def failure(engine: AssistantsEngine, turn: Turn | None = None) -> EngineError:
    with pytest.raises(EngineError) as caught:
        await collect(engine, turn)
    return caught.value


# -- text turns --------------------------------------------------------------------------------


async def test_text_turn_yields_deltas_message_and_usage() -> None:
    provider = Provider(runs=[stream(reply("Hel", "lo"))])
    events = await collect(make_engine(provider), make_turn("Hi there"))

    assert events == [
        TextDelta("msg_1", "Hel"),
        TextDelta("msg_1", "lo"),
        MessageCompleted("msg_1", "Hello"),
        TurnFinished(Usage(input_tokens=12, output_tokens=5)),
    ]
    assert provider.bodies(f"/threads/{THREAD}/messages") == [{"role": "user", "content": "Hi there"}]
    assert not provider.cancelled()


async def test_run_sends_overrides_from_config() -> None:
    provider = Provider(runs=[stream(reply("ok"))])
    await collect(make_engine(provider, temperature=0.3), make_turn(tools=["get_weather"]))

    [body] = provider.bodies(f"/threads/{THREAD}/runs")
    assert body["assistant_id"] == "asst_cfg"
    assert body["stream"] is True
    assert body["model"] == "gpt-test"
    assert body["instructions"] == "Be brief."
    assert body["temperature"] == 0.3
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather for a city.", "parameters": OBJECT},
        }
    ]


async def test_run_without_temperature_leaves_it_out() -> None:
    provider = Provider(runs=[stream(reply("ok"))])
    await collect(make_engine(provider), make_turn(tools=[]))

    [body] = provider.bodies("/runs")
    assert "temperature" not in body
    assert body["tools"] == []


async def test_assistant_is_created_once_from_profile_when_no_id() -> None:
    async def slow_assistant(request: httpx2.Request) -> httpx2.Response:
        for _ in range(5):  # let the other turn reach the lock
            await anyio.lowlevel.checkpoint()
        return httpx2.Response(200, json=assistant_obj("asst_new"))

    provider = Provider(runs=[stream(reply("a")), stream(reply("b")), stream(reply("c"))], assistants=slow_assistant)
    engine = make_engine(provider, assistant_id=None)
    async with anyio.create_task_group() as group:
        group.start_soon(collect, engine, make_turn(tools=["get_weather"]))
        group.start_soon(collect, engine, make_turn(tools=["get_weather"]))

    assert provider.bodies("/assistants") == [
        {
            "model": "gpt-test",
            "instructions": "Be brief.",
            "tools": [registry.subset(["get_weather"]).function_schemas()[0]],
        }
    ]
    assert [body["assistant_id"] for body in provider.bodies("/runs")] == ["asst_new", "asst_new"]
    await collect(engine, make_turn())  # later turns reuse the cached id
    assert len(provider.bodies("/assistants")) == 1


# -- tools -------------------------------------------------------------------------------------


async def test_two_tool_calls_are_submitted_together() -> None:
    first = (
        run_event("created")
        + requires_action(("call_a", "get_weather", {"city": "Oslo"}), ("call_b", "lookup_order", {"id": 7}))
        + DONE
    )
    provider = Provider(runs=[stream(first), stream(reply("Sunny, and shipped."))])
    events = await collect(make_engine(provider))

    assert events[:4] == [
        ToolStarted("call_a", "get_weather"),
        ToolStarted("call_b", "lookup_order"),
        ToolFinished("call_a", "get_weather", True),
        ToolFinished("call_b", "lookup_order", True),
    ]
    assert events[4:] == [
        TextDelta("msg_1", "Sunny, and shipped."),
        MessageCompleted("msg_1", "Sunny, and shipped."),
        TurnFinished(Usage(12, 5)),
    ]
    assert provider.bodies(f"/threads/{THREAD}/runs/{RUN}/submit_tool_outputs") == [
        {
            "stream": True,
            "tool_outputs": [
                {"tool_call_id": "call_a", "output": '{"city":"Oslo","sky":"clear"}'},
                {"tool_call_id": "call_b", "output": "order 7 shipped"},
            ],
        }
    ]


async def test_tool_calls_of_one_round_run_concurrently() -> None:
    both_started = anyio.Event()
    seen: list[str] = []
    local = ToolRegistry()

    async def wait_for_partner(ctx: ToolContext, args: dict[str, Any]) -> str:
        seen.append(args["me"])
        if len(seen) == 2:
            both_started.set()
        await both_started.wait()  # a sequential dispatcher would time out here
        return "ok"

    local.tool(name="pair", description="", parameters=OBJECT, timeout=10)(wait_for_partner)
    first = requires_action(("c1", "pair", {"me": "1"}), ("c2", "pair", {"me": "2"})) + DONE
    provider = Provider(runs=[stream(first), stream(reply("done"))])
    events = await collect(make_engine(provider), make_turn(tool_set=local.subset(["pair"])))

    assert [e.ok for e in events if isinstance(e, ToolFinished)] == [True, True]


async def test_tool_failure_is_reported_and_sent_back_to_the_model() -> None:
    first = requires_action(("call_r", "reserve", {}), ("call_x", "no_such_tool", {})) + DONE
    provider = Provider(runs=[stream(first), stream(reply("Sorry."))])
    events = await collect(make_engine(provider))

    assert [e for e in events if isinstance(e, ToolFinished)] == [
        ToolFinished("call_r", "reserve", False),
        ToolFinished("call_x", "no_such_tool", False),
    ]
    [body] = provider.bodies("/submit_tool_outputs")
    outputs = {o["tool_call_id"]: o["output"] for o in body["tool_outputs"]}
    assert outputs["call_r"] == "Error: out of stock"
    assert outputs["call_x"].startswith("Error: unknown tool 'no_such_tool'")


async def test_tool_rounds_are_bounded_and_the_run_cancelled() -> None:
    loop = requires_action(("call_1", "get_weather", {})) + DONE
    provider = Provider(runs=[stream(loop), stream(loop), stream(loop)])
    error = await failure(make_engine(provider, max_tool_rounds=2))

    assert error.code == "tool_rounds_exceeded"
    assert len(provider.bodies("/submit_tool_outputs")) == 2
    assert provider.cancelled() == [f"/threads/{THREAD}/runs/{RUN}/cancel"]


# -- runs that end badly -----------------------------------------------------------------------


async def test_run_failed_with_rate_limit_is_retryable() -> None:
    last_error = {"code": "rate_limit_exceeded", "message": "Rate limit reached for gpt-test."}
    provider = Provider(runs=[stream(run_event("created") + run_event("failed", last_error=last_error) + DONE)])
    error = await failure(make_engine(provider))

    assert (error.code, error.retryable, error.status) == ("upstream_rate_limited", True, 429)
    assert error.message == "Rate limit reached for gpt-test."
    assert not provider.cancelled()


@pytest.mark.parametrize(
    ("terminal", "code", "retryable"),
    [
        (run_event("failed", last_error={"code": "server_error", "message": "boom"}), "upstream_failed", True),
        (run_event("failed", last_error={"code": "invalid_prompt", "message": "no"}), "upstream_failed", False),
        (run_event("failed"), "upstream_failed", True),
        (run_event("cancelled"), "cancelled", False),
        (run_event("expired"), "upstream_timeout", True),
        (run_event("incomplete", incomplete_details={"reason": "max_completion_tokens"}), "upstream_failed", False),
    ],
)
async def test_runs_ending_without_completion(terminal: bytes, code: str, retryable: bool) -> None:
    provider = Provider(runs=[stream(run_event("created") + delta("par") + terminal + DONE)])
    events: list[Any] = []
    with pytest.raises(EngineError) as caught:
        async for event in make_engine(provider).stream_turn(make_turn()):
            events.append(event)

    assert events == [TextDelta("msg_1", "par")]
    assert (caught.value.code, caught.value.retryable) == (code, retryable)
    assert not provider.cancelled()


async def test_incomplete_run_names_the_reason() -> None:
    terminal = run_event("incomplete", incomplete_details={"reason": "max_prompt_tokens"})
    error = await failure(make_engine(Provider(runs=[stream(terminal + DONE)])))
    assert "max_prompt_tokens" in error.message


@pytest.mark.parametrize(
    "payload",
    [
        {"code": "server_error", "message": "The server had an error.", "type": "server_error"},
        {"error": {"code": "server_error", "message": "The server had an error.", "type": "server_error"}},
    ],
)
async def test_error_event_in_the_stream(payload: dict[str, Any]) -> None:
    provider = Provider(runs=[stream(run_event("created") + sse("error", payload) + DONE)])
    error = await failure(make_engine(provider))

    assert (error.code, error.retryable) == ("upstream_failed", True)
    assert error.message == "The server had an error."


async def test_an_event_that_is_not_json_fails_the_turn_after_the_text_before_it() -> None:
    garbled = b"event: thread.message.delta\ndata: {oops\n\n"
    provider = Provider(runs=[stream(run_event("created") + delta("Hal") + garbled + DONE)])
    events: list[Any] = []
    with pytest.raises(EngineError) as caught:
        async for event in make_engine(provider).stream_turn(make_turn()):
            events.append(event)

    assert events == [TextDelta("msg_1", "Hal")]
    assert (caught.value.code, caught.value.message) == ("upstream_failed", "The AI provider sent a malformed event.")


# -- HTTP failures -----------------------------------------------------------------------------


def refuse(request: httpx2.Request) -> httpx2.Response:
    raise httpx2.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(
    ("answer", "code", "retryable"),
    [
        (api_error(401, "Incorrect API key provided.", "invalid_api_key"), "upstream_auth", False),
        (api_error(404, "No assistant found with id 'asst_cfg'."), "upstream_not_found", False),
        (api_error(429, "Rate limit reached.", "rate_limit_exceeded", "requests"), "upstream_rate_limited", True),
        (api_error(429, "You exceeded your current quota.", "insufficient_quota"), "upstream_quota", False),
        (api_error(500, "The server had an error.", None, "server_error"), "upstream_unavailable", True),
        (refuse, "upstream_unavailable", True),
    ],
)
async def test_failures_when_starting_the_run(answer: Answer, code: str, retryable: bool) -> None:
    provider = Provider(runs=[answer])
    error = await failure(make_engine(provider))

    assert (error.code, error.retryable) == (code, retryable)
    assert not provider.cancelled()


async def test_message_while_a_run_is_active_is_explained() -> None:
    busy = api_error(400, f"Can't add messages to {THREAD} while a run run_9 is active.")
    provider = Provider(messages=busy)
    error = await failure(make_engine(provider))

    assert (error.code, error.status, error.retryable) == ("upstream_bad_request", 409, True)
    assert "still running" in error.message
    assert not provider.bodies("/runs")


async def test_other_bad_requests_carry_the_provider_message() -> None:
    provider = Provider(runs=[api_error(400, "Invalid value for 'model'.")])
    error = await failure(make_engine(provider))
    assert error.code == "upstream_bad_request"
    assert "Invalid value for 'model'." in error.message


# -- broken streams and early endings ----------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        run_event("created") + delta("Hal"),  # connection closed mid-run
        run_event("created") + delta("Hal") + DONE,  # [DONE] without a terminal run event
    ],
)
async def test_stream_cut_is_retryable_and_the_run_cancelled(body: bytes) -> None:
    provider = Provider(runs=[stream(body)])
    error = await failure(make_engine(provider))

    assert (error.code, error.retryable) == ("upstream_stream_cut", True)
    assert provider.cancelled() == [f"/threads/{THREAD}/runs/{RUN}/cancel"]


async def test_broken_body_is_a_stream_cut() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield run_event("created") + delta("Hal")
        raise httpx2.ReadError("peer reset")

    provider = Provider(runs=[httpx2.Response(200, content=body(), headers={"content-type": "text/event-stream"})])
    error = await failure(make_engine(provider))
    assert error.code == "upstream_stream_cut"


def endless() -> httpx2.Response:
    """A run that writes one delta and then never finishes."""

    async def body() -> AsyncIterator[bytes]:
        yield run_event("created") + run_event("in_progress") + delta("Thinking")
        await anyio.sleep_forever()

    return httpx2.Response(200, content=body(), headers={"content-type": "text/event-stream"})


async def test_closing_the_generator_cancels_the_run() -> None:
    provider = Provider(runs=[endless()])
    turn = make_engine(provider).stream_turn(make_turn())

    assert await anext(turn) == TextDelta("msg_1", "Thinking")
    await turn.aclose()

    assert provider.cancelled() == [f"/threads/{THREAD}/runs/{RUN}/cancel"]


async def test_cancelling_the_consumer_cancels_the_run() -> None:
    answered: list[str] = []

    async def slow_cancel(request: httpx2.Request) -> httpx2.Response:
        await anyio.lowlevel.checkpoint()  # an unshielded clean-up would be cancelled right here
        answered.append(request.url.path)
        return httpx2.Response(200, json=run_obj("cancelling"))

    provider = Provider(runs=[endless()], cancel=slow_cancel)
    engine = make_engine(provider)
    first_delta = anyio.Event()

    async def consume() -> None:
        async for event in engine.stream_turn(make_turn()):
            if isinstance(event, TextDelta):
                first_delta.set()

    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        await first_delta.wait()
        group.cancel_scope.cancel()

    assert answered == [f"/v1/threads/{THREAD}/runs/{RUN}/cancel"]


async def test_stopped_before_the_run_announced_itself_cancels_the_newest_run() -> None:
    run_requested = anyio.Event()

    async def stuck_run(request: httpx2.Request) -> httpx2.Response:
        run_requested.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    provider = Provider(runs=[stuck_run])
    engine = make_engine(provider)
    async with anyio.create_task_group() as group:
        group.start_soon(collect, engine)
        await run_requested.wait()
        group.cancel_scope.cancel()

    assert ("GET", f"/threads/{THREAD}/runs") in [(m, p) for m, p, _ in provider.requests]
    assert provider.cancelled() == [f"/threads/{THREAD}/runs/run_7/cancel"]


async def test_refused_run_is_not_looked_up() -> None:
    provider = Provider(runs=[api_error(500, "boom")])
    await failure(make_engine(provider))
    assert [m for m, _, _ in provider.requests] == ["POST", "POST"]  # the message, the run


async def test_failed_cancel_does_not_mask_the_ending() -> None:
    provider = Provider(runs=[endless()], cancel=api_error(500, "cancel failed"))
    turn = make_engine(provider).stream_turn(make_turn())

    await anext(turn)
    await turn.aclose()  # no exception escapes
    assert len(provider.cancelled()) == 1


# -- conversations -----------------------------------------------------------------------------


async def test_create_and_delete_conversation() -> None:
    provider = Provider()
    engine = make_engine(provider)

    assert await engine.create_conversation() == THREAD
    await engine.delete_conversation(THREAD)
    await engine.delete_conversation(None)
    assert [(m, p) for m, p, _ in provider.requests] == [("POST", "/threads"), ("DELETE", f"/threads/{THREAD}")]


async def test_deleting_a_missing_thread_is_not_an_error() -> None:
    provider = Provider(threads=api_error(404, "No thread found."))
    await make_engine(provider).delete_conversation("thread_gone")


async def test_create_conversation_failure_is_mapped() -> None:
    provider = Provider(threads=api_error(401, "bad key"))
    with pytest.raises(EngineError) as caught:
        await make_engine(provider).create_conversation()
    assert caught.value.code == "upstream_auth"
