"""The Responses API: ``POST /v1/responses`` (streamed or not), retrieve, cancel, delete.

History comes from ``conversation`` (whose items a completed response extends with its input and
output) or from the ``previous_response_id`` chain. A response is kept for retrieval and chaining
unless the request says ``store: false`` or the simulator stores none (``store_responses`` off).
A conversation is locked while one of its responses is in progress: a second one gets 400
``conversation_locked``. A response whose client disconnects mid-stream ends ``cancelled`` and
unlocks its conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import anyio
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from proxy.simulator import sse
from proxy.simulator.conversations import Conversation, get_conversation, locked_error
from proxy.simulator.errors import invalid_request, not_found
from proxy.simulator.faults import http_fault, run_failure
from proxy.simulator.items import check_tool_pairing, normalize_items, to_entries
from proxy.simulator.listing import cursor_page
from proxy.simulator.models import check_model
from proxy.simulator.response_events import output_items, response_program, usage
from proxy.simulator.script import ModelInput
from proxy.simulator.state import SimulatorState, now
from proxy.simulator.streaming import CUT, STALL, Program, StreamCancelled
from proxy.simulator.tools import flat_function_tools, function_specs

if TYPE_CHECKING:
    from anyio import CancelScope

    from proxy.simulator.faults import RunFailure

__all__ = ("ResponseController", "ResponseRecord")

_TERMINAL = frozenset({"completed", "failed", "incomplete", "cancelled"})


@dataclass(slots=True, eq=False)
class ResponseRecord:
    body: dict[str, Any]
    """The Response object as the API returns it."""
    input_items: list[dict[str, Any]]
    conversation: Conversation | None = None
    history_count: int = 0
    """How many conversation items the response saw before its input."""
    previous: ResponseRecord | None = None
    stream_scope: CancelScope | None = None

    @property
    def terminal(self) -> bool:
        return self.body["status"] in _TERMINAL

    def transcript(self) -> list[dict[str, Any]]:
        """What a response chained to this one sees before its own input, oldest first."""
        chain: list[ResponseRecord] = []
        record: ResponseRecord | None = self
        while record is not None:
            chain.append(record)
            record = record.previous
        root = chain[-1]
        items = root.conversation.items[: root.history_count] if root.conversation is not None else []
        for record in reversed(chain):
            items.extend(record.input_items)
            items.extend(record.body["output"])
        return items

    def _finish(self, status: str) -> None:
        self.body["status"] = status
        if self.conversation is not None and self.conversation.locked_by == self.body["id"]:
            self.conversation.locked_by = None

    def complete(self, output: list[dict[str, Any]], usage: dict[str, Any]) -> None:
        if self.terminal:  # cancelled meanwhile
            return
        self.body.update(output=output, usage=usage, completed_at=now())
        if self.conversation is not None:
            self.conversation.items.extend(self.input_items)
            self.conversation.items.extend(output)
        self._finish("completed")

    def fail(self, failure: RunFailure) -> None:
        if self.terminal:
            return
        self.body["error"] = {"code": failure.code, "message": failure.message}
        self._finish("failed")

    def abandon(self) -> None:
        """The client went away before the end: the work stops."""
        if not self.terminal:
            self._finish("cancelled")

    def cancel(self) -> None:
        self.abandon()
        if self.stream_scope is not None:
            self.stream_scope.cancel()


def _conversation_id(raw: Any) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        return str(raw["id"])
    raise invalid_request("Invalid type for 'conversation': expected a string or an object.", param="conversation")


def _response_object(
    response_id: str, data: dict[str, Any], model: str, tools: list[Any], conversation: Conversation | None
) -> dict[str, Any]:
    """A new Response object, in progress; what the request set is echoed back."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": now(),
        "status": "in_progress",
        "background": False,
        "completed_at": None,
        "conversation": {"id": conversation.id} if conversation else None,
        "error": None,
        "incomplete_details": None,
        "instructions": data.get("instructions"),
        "max_output_tokens": data.get("max_output_tokens"),
        "max_tool_calls": data.get("max_tool_calls"),
        "metadata": data.get("metadata") or {},
        "model": model,
        "output": [],
        "parallel_tool_calls": data.get("parallel_tool_calls", True),
        "previous_response_id": data.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": data.get("store", True),
        "temperature": data.get("temperature", 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": data.get("tool_choice", "auto"),
        "tools": tools,
        "top_p": data.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": None,
        "user": None,
    }


def _get(sim: SimulatorState, response_id: str) -> ResponseRecord:
    record = sim.responses.get(response_id)
    if record is None:
        raise not_found(f"Response with id '{response_id}' not found.")
    return record


def _stalled(record: ResponseRecord) -> Program:
    """An unstreamed response that never comes, unless the response is cancelled."""
    try:
        yield STALL
    except StreamCancelled:
        yield sse.dumps(record.body)
    finally:
        record.abandon()


def _cut(payload: dict[str, Any]) -> Program:
    body = sse.dumps(payload)
    yield body[: len(body) // 2]
    yield CUT


class ResponseController(Controller):
    path = "/responses"

    @post("/", status_code=HTTP_200_OK)
    async def create(
        self, request: Request[Any, Any, Any], sim: NamedDependency[SimulatorState], data: JSONBody[dict[str, Any]]
    ) -> Response[Any]:
        model = check_model(data.get("model"))
        conversation_id = _conversation_id(data.get("conversation"))
        previous_id = data.get("previous_response_id")
        if conversation_id is not None and previous_id is not None:
            raise invalid_request(
                "Mutually exclusive parameters: Ensure you are only providing one of: "
                "'previous_response_id' or 'conversation'.",
                param="conversation",
            )
        conversation = get_conversation(sim, conversation_id, param="conversation") if conversation_id else None
        previous: ResponseRecord | None = None
        if previous_id is not None:
            previous = sim.responses.get(previous_id)
            if previous is None:
                raise not_found(
                    f"Previous response with id '{previous_id}' not found.",
                    param="previous_response_id",
                    code="previous_response_not_found",
                )
        tools, names = flat_function_tools(data.get("tools"))
        input_items = normalize_items(data.get("input", []), "input", sim.new_id)
        history = conversation.items if conversation else previous.transcript() if previous else []
        if conversation is not None and conversation.locked_by is not None:
            raise locked_error()
        visible = [*history, *input_items]
        check_tool_pairing(visible, param="input", require_outputs=True)
        instructions = data.get("instructions")
        tool_choice = data.get("tool_choice", "auto")
        model_input = ModelInput.from_entries(
            to_entries(visible),
            instructions=instructions if isinstance(instructions, str) else "",
            tools=() if tool_choice == "none" else names,
            specs=function_specs(tools, names),
        )
        reply = sim.answer(model_input)
        fault = sim.take_fault(request, reply.fault)
        if error := http_fault(fault):
            raise error
        if fault != reply.fault:
            reply = replace(reply, fault=fault)

        response_id = sim.new_id("resp_")
        body = _response_object(response_id, data, model, tools, conversation)
        body["store"] = sim.config.store_responses and data.get("store", True) is not False
        record = ResponseRecord(body, input_items, conversation, len(history) if conversation else 0, previous)
        if body["store"]:  # else it can be neither retrieved nor chained
            sim.responses.add(response_id, record)
        if conversation is not None:
            conversation.locked_by = response_id

        items = output_items(reply, sim.new_id)
        if data.get("stream"):
            program = response_program(record, reply, items, model_input.input_tokens)
            return sim.stream(request, program, owner=record)
        if fault == "stall":
            return sim.stream(request, _stalled(record), owner=record, media_type="application/json")
        pace = reply.pace
        delay = pace.ttft + pace.gap * max(0, reply.output_tokens - 1)
        if delay:
            await anyio.sleep(delay)
        if failure := run_failure(fault):  # failed, run_rate_limit, cut
            record.fail(failure)
        else:
            record.complete(items, usage(model_input.input_tokens, reply.output_tokens))
        if fault == "cut":
            return sim.stream(request, _cut(body), media_type="application/json")
        return Response(body)

    @get("/{response_id:str}")
    async def retrieve(self, sim: NamedDependency[SimulatorState], response_id: FromPath[str]) -> dict[str, Any]:
        return _get(sim, response_id).body

    @post("/{response_id:str}/cancel", status_code=HTTP_200_OK)
    async def cancel(self, sim: NamedDependency[SimulatorState], response_id: FromPath[str]) -> dict[str, Any]:
        record = _get(sim, response_id)
        if record.terminal:
            raise invalid_request(f"Cannot cancel a response with status '{record.body['status']}'.")
        record.cancel()
        return record.body

    @delete("/{response_id:str}", status_code=HTTP_200_OK)
    async def remove(self, sim: NamedDependency[SimulatorState], response_id: FromPath[str]) -> dict[str, Any]:
        _get(sim, response_id)
        del sim.responses[response_id]
        return {"id": response_id, "object": "response", "deleted": True}

    @get("/{response_id:str}/input_items")
    async def input_items(
        self,
        sim: NamedDependency[SimulatorState],
        response_id: FromPath[str],
        limit: FromQuery[int] = 20,
        order: FromQuery[str] = "desc",
        after: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        return cursor_page(_get(sim, response_id).input_items, order=order, limit=limit, after=after)
