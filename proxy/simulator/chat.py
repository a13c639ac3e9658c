"""Chat Completions: ``POST /v1/chat/completions``, streamed (``chat.completion.chunk``) or not.

A streamed reply opens with a chunk carrying the role, then one chunk per token (or, for calls, a
chunk with each call's ``index``/``id``/``name`` followed by chunks of argument fragments), a chunk
with ``finish_reason`` (``stop`` or ``tool_calls``), the usage chunk with empty ``choices`` when
``stream_options.include_usage`` is set, and ``data: [DONE]``. Failures that the Responses and
Assistants APIs report in-band arrive here as an ``{"error": ...}`` data line, which the SDK raises.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import anyio
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from proxy.simulator import sse
from proxy.simulator.errors import APIError, invalid_request, missing_parameter
from proxy.simulator.faults import RATE_LIMITED, SERVER_ERROR, RunFailure, http_fault
from proxy.simulator.items import content_text
from proxy.simulator.models import check_model
from proxy.simulator.pacing import Ended, Pacer
from proxy.simulator.script import Entry, ModelInput, Reply, ToolCall
from proxy.simulator.state import SimulatorState, now
from proxy.simulator.streaming import CUT, STALL, Program
from proxy.simulator.tools import function_specs, nested_function_tools

__all__ = ("ChatController",)

_ROLES = ("system", "developer", "user", "assistant", "tool")


def _unanswered(index: int, pending: dict[str, str]) -> APIError:
    return invalid_request(
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(pending)}",
        param=f"messages.[{index}].role",
    )


def _transcript(messages: Any) -> tuple[list[Entry], str]:
    """The entries and the joined system/developer instructions, checked as the API checks them."""
    if messages is None:
        raise missing_parameter("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_request(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.", param="messages"
        )
    entries: list[Entry] = []
    instructions: list[str] = []
    group: dict[str, str] = {}  # the last assistant message's calls: id -> name
    pending: dict[str, str] = {}  # those of them not answered yet
    last = -1
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in _ROLES:
            raise invalid_request(
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'tool', "
                "and 'developer'.",
                param=f"messages[{index}].role",
                code="invalid_value",
            )
        if role != "tool" and pending:
            raise _unanswered(last, pending)
        text = content_text(message.get("content"))
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in group:
                raise invalid_request(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                    "with 'tool_calls'.",
                    param=f"messages.[{index}].role",
                )
            pending.pop(call_id, None)
            entries.append(Entry("tool", text, group[call_id]))
            continue
        group = {}
        if role in ("system", "developer"):
            instructions.append(text)
        elif role == "user":
            entries.append(Entry("user", text))
        else:
            entries.append(Entry("assistant", text))
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                group[call.get("id")] = function.get("name", "")
                entries.append(Entry("assistant", function.get("arguments", ""), function.get("name", "")))
            pending = dict(group)
            last = index
    if pending:
        raise _unanswered(last, pending)
    return entries, "\n".join(instructions)


def _usage(model_input: ModelInput, reply: Reply) -> dict[str, Any]:
    prompt, completion = model_input.input_tokens, reply.output_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _error(failure: RunFailure) -> bytes:
    error_type = "requests" if failure.code == "rate_limit_exceeded" else "server_error"
    return sse.data({"error": {"message": failure.message, "type": error_type, "param": None, "code": failure.code}})


def _chunks(
    head: dict[str, Any], reply: Reply, calls: list[tuple[str, ToolCall]], usage: dict[str, Any] | None
) -> Program:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload = {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if usage is not None:
            payload["usage"] = None
        return sse.data(payload)

    def template(delta: dict[str, Any]) -> sse.Template:
        """For the deltas: the chunk encoded once, with a slot for the text or the fragment."""
        return sse.Template(chunk(delta))

    def failed() -> Any:
        yield _error(SERVER_ERROR)

    pacer = Pacer(reply.pace, reply.fault, on_cut=lambda: None, on_failed=failed)
    try:
        if reply.pace.ttft:
            yield reply.pace.ttft
        if reply.fault == "run_rate_limit":
            yield _error(RATE_LIMITED)
            return
        if calls:
            for index, (call_id, call) in enumerate(calls):
                opening = {
                    "index": index,
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""},
                }
                yield chunk(
                    {"role": "assistant", "content": None, "tool_calls": [opening]}
                    if index == 0
                    else {"tool_calls": [opening]}
                )
                fragment_chunk = template({"tool_calls": [{"index": index, "function": {"arguments": sse.SLOT}}]})
                for fragment in call.fragments:
                    yield from pacer.before_delta()
                    yield fragment_chunk(fragment)
        else:
            yield chunk({"role": "assistant", "content": "", "refusal": None})
            token_chunk = template({"content": sse.SLOT})
            for token in reply.tokens:
                yield from pacer.before_delta()
                yield token_chunk(token)
        yield from pacer.before_end()
        yield chunk({}, "tool_calls" if calls else "stop")
        if usage is not None:
            yield sse.data({**head, "choices": [], "usage": usage})
        yield sse.DONE
    except Ended:
        return


def _message(reply: Reply, calls: list[tuple[str, ToolCall]]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None, "annotations": []}
    if calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call_id, call in calls
        ]
    return message


def _stall() -> Program:
    yield STALL


def _cut(payload: dict[str, Any]) -> Program:
    body = sse.dumps(payload)
    yield body[: len(body) // 2]
    yield CUT


class ChatController(Controller):
    path = "/chat/completions"

    @post("/", status_code=HTTP_200_OK)
    async def create(
        self, request: Request[Any, Any, Any], sim: NamedDependency[SimulatorState], data: JSONBody[dict[str, Any]]
    ) -> Response[Any]:
        model = check_model(data.get("model"))
        entries, instructions = _transcript(data.get("messages"))
        tools, names = nested_function_tools(data.get("tools"))
        offered = () if data.get("tool_choice") == "none" else names
        model_input = ModelInput.from_entries(
            entries, instructions=instructions, tools=offered, specs=function_specs(tools, offered)
        )
        reply = sim.answer(model_input)
        fault = sim.take_fault(request, reply.fault)
        if error := http_fault(fault):
            raise error
        if fault != reply.fault:
            reply = replace(reply, fault=fault)

        completion_id = sim.new_id("chatcmpl-")
        calls = [(sim.new_id("call_"), call) for call in reply.tool_calls]
        usage = _usage(model_input, reply)
        head = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": now(),
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_simulator",
        }
        if data.get("stream"):
            options = data.get("stream_options") or {}
            program = _chunks(head, reply, calls, usage if options.get("include_usage") else None)
            return sim.stream(request, program)

        if fault == "stall":
            return sim.stream(request, _stall(), media_type="application/json")
        if fault == "failed":
            raise APIError(500, SERVER_ERROR.message, type="server_error")
        if fault == "run_rate_limit":
            raise APIError(429, RATE_LIMITED.message, type="requests", code=RATE_LIMITED.code)
        pace = reply.pace
        if delay := pace.ttft + pace.gap * max(0, reply.output_tokens - 1):
            await anyio.sleep(delay)
        body = {
            **head,
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": _message(reply, calls),
                    "logprobs": None,
                    "finish_reason": "tool_calls" if calls else "stop",
                }
            ],
            "usage": usage,
        }
        if fault == "cut":
            return sim.stream(request, _cut(body), media_type="application/json")
        return Response(body)
