"""Runs of the Assistants API: create, submit tool outputs, cancel, retrieve, list.

A thread has at most one active run (``queued``, ``in_progress``, ``requires_action``,
``cancelling``); meanwhile new runs and new messages are refused with the API's 400s. Cancelling
answers ``cancelling`` and leaves the run ``cancelled`` at once; a stream still playing it ends
with ``thread.run.cancelled``.

A run whose client disconnects is *not* stopped: on the real API it goes on without the client,
here it stays where it was (``in_progress``, ``requires_action``) until it is cancelled, so an
engine that forgets to cancel finds its thread busy. A ``cut`` leaves the run ``failed``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from proxy.simulator.assistants import (
    ThreadRecord,
    get_assistant,
    get_thread,
    message_object,
    message_text,
)
from proxy.simulator.errors import invalid_request, missing_parameter, not_found
from proxy.simulator.faults import http_fault
from proxy.simulator.listing import cursor_page
from proxy.simulator.models import check_model
from proxy.simulator.run_events import drain, run_program
from proxy.simulator.script import Entry, ModelInput, Reply, ToolCall
from proxy.simulator.state import SimulatorState, now
from proxy.simulator.tools import function_specs, nested_function_tools

if TYPE_CHECKING:
    from anyio import CancelScope

    from proxy.simulator.faults import RunFailure

__all__ = ("RunController", "RunRecord")

_TERMINAL = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})


@dataclass(slots=True, eq=False)
class RunRecord:
    body: dict[str, Any]
    thread: ThreadRecord
    tool_names: list[str]
    new_id: Callable[[str], str]
    tool_entries: list[Entry] = field(default_factory=list)
    tool_step: dict[str, Any] | None = None
    current_step: dict[str, Any] | None = None
    open_messages: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stream_scope: CancelScope | None = None

    @property
    def id(self) -> str:
        return self.body["id"]  # type: ignore[no-any-return]

    @property
    def terminal(self) -> bool:
        return self.body["status"] in _TERMINAL

    def _usage(self) -> dict[str, int]:
        prompt, completion = self.prompt_tokens, self.completion_tokens
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _stop(self, status: str, stamp: str) -> None:
        if self.terminal:  # cancelled meanwhile
            return
        self.body.update(status=status, required_action=None, usage=self._usage())
        self.body[stamp] = now()
        for message in self.open_messages:
            message.update(status="incomplete", incomplete_at=now(), incomplete_details={"reason": "run_" + status})
        self.open_messages.clear()

    def start(self) -> None:
        if self.terminal:
            return
        self.body.update(status="in_progress", started_at=self.body["started_at"] or now())

    def new_step(self, kind: str, details: dict[str, Any]) -> dict[str, Any]:
        step = {
            "id": self.new_id("step_"),
            "object": "thread.run.step",
            "created_at": now(),
            "run_id": self.id,
            "assistant_id": self.body["assistant_id"],
            "thread_id": self.thread.id,
            "type": kind,
            "status": "in_progress",
            "cancelled_at": None,
            "completed_at": None,
            "expired_at": None,
            "failed_at": None,
            "last_error": None,
            "step_details": details,
            "usage": None,
            "metadata": {},
        }
        self.current_step = step
        return step

    def complete_step(self, step: dict[str, Any]) -> None:
        step.update(status="completed", completed_at=now(), usage=self._usage())

    def require_action(self, calls: Sequence[tuple[str, ToolCall]], step: dict[str, Any]) -> None:
        functions: list[dict[str, Any]] = [
            {"id": call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call_id, call in calls
        ]
        step["step_details"]["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments, "output": None},
            }
            for call_id, call in calls
        ]
        self.tool_step = step
        if self.terminal:
            return
        self.body.update(
            status="requires_action",
            required_action={"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": functions}},
        )

    def output_entries(self, outputs: dict[str, str]) -> list[Entry]:
        """How the model sees ``outputs`` (one per pending call, checked by the caller)."""
        assert self.tool_step is not None
        calls = self.tool_step["step_details"]["tool_calls"]
        made = [Entry("assistant", call["function"]["arguments"], call["function"]["name"]) for call in calls]
        return made + [Entry("tool", outputs[call["id"]], call["function"]["name"]) for call in calls]

    def submit(self, outputs: dict[str, str]) -> None:
        """Record the outputs and queue the run for its next leg."""
        assert self.tool_step is not None
        self.tool_entries.extend(self.output_entries(outputs))
        for call in self.tool_step["step_details"]["tool_calls"]:
            call["function"]["output"] = outputs[call["id"]]
        self.complete_step(self.tool_step)
        self.body.update(status="queued", required_action=None)

    def open_message(self) -> dict[str, Any]:
        """The assistant message the model is about to write, added to the thread in progress."""
        message = {
            "id": self.new_id("msg_"),
            "object": "thread.message",
            "created_at": now(),
            "assistant_id": self.body["assistant_id"],
            "thread_id": self.thread.id,
            "run_id": self.id,
            "role": "assistant",
            "content": [],
            "attachments": [],
            "metadata": {},
            "status": "in_progress",
            "completed_at": None,
            "incomplete_at": None,
            "incomplete_details": None,
        }
        self.thread.messages.append(message)
        self.open_messages.append(message)
        return message

    def close_message(self, message: dict[str, Any], text: str) -> None:
        message.update(
            status="completed",
            completed_at=now(),
            content=[{"type": "text", "text": {"value": text, "annotations": []}}],
        )
        self.open_messages.remove(message)

    def complete(self) -> None:
        self._stop("completed", "completed_at")

    def fail(self, failure: RunFailure) -> None:
        if self.terminal:
            return
        self.body["last_error"] = {"code": failure.code, "message": failure.message}
        if self.current_step is not None and self.current_step["status"] == "in_progress":
            self.current_step.update(status="failed", failed_at=now(), last_error=self.body["last_error"])
        self._stop("failed", "failed_at")

    def cancel(self) -> None:
        self._stop("cancelled", "cancelled_at")
        if self.stream_scope is not None:
            self.stream_scope.cancel()


def _plan(
    sim: SimulatorState,
    request: Request[Any, Any, Any],
    run: RunRecord,
    *,
    messages: Sequence[dict[str, Any]] = (),
    outputs: Sequence[Entry] = (),
) -> Reply:
    """The model's next leg of ``run``, seeing also the ``messages`` and ``outputs`` being added.

    A fault that is an HTTP error is raised here, before the run changes.
    """
    entries = [Entry(m["role"], message_text(m)) for m in (*run.thread.messages, *messages)]
    entries.extend(run.tool_entries)
    entries.extend(outputs)
    model_input = ModelInput.from_entries(
        entries,
        instructions=run.body["instructions"],
        tools=run.tool_names,
        specs=function_specs(run.body["tools"], run.tool_names),
    )
    reply = sim.answer(model_input)
    fault = sim.take_fault(request, reply.fault)
    if error := http_fault(fault):
        raise error
    run.prompt_tokens += model_input.input_tokens
    run.completion_tokens += reply.output_tokens
    return reply if fault == reply.fault else replace(reply, fault=fault)


def _get_run(sim: SimulatorState, thread: ThreadRecord, run_id: str) -> RunRecord:
    run = sim.runs.get(run_id)
    if run is None or run.thread is not thread:
        raise not_found(f"No run found with id '{run_id}'.")
    return run


def _play(
    sim: SimulatorState, request: Request[Any, Any, Any], run: RunRecord, reply: Reply, *, stream: bool, resumed: bool
) -> Response[Any]:
    program = run_program(run, reply, resumed=resumed)
    if stream:
        return sim.stream(request, program, owner=run)
    snapshot = {**run.body, "status": "queued"}  # what the API answers; the run goes on "in the background"
    drain(program)
    return Response(snapshot)


class RunController(Controller):
    path = "/threads/{thread_id:str}/runs"

    @post("/", status_code=HTTP_200_OK)
    async def create(
        self,
        request: Request[Any, Any, Any],
        sim: NamedDependency[SimulatorState],
        thread_id: FromPath[str],
        data: JSONBody[dict[str, Any]],
    ) -> Response[Any]:
        thread = get_thread(sim, thread_id)
        assistant_id = data.get("assistant_id")
        if not isinstance(assistant_id, str):
            raise missing_parameter("assistant_id")
        assistant = get_assistant(sim, assistant_id)
        model = check_model(data.get("model") or assistant["model"])
        tools, names = nested_function_tools(data["tools"] if data.get("tools") is not None else assistant["tools"])
        instructions = data.get("instructions")
        if instructions is None:
            instructions = assistant["instructions"] or ""
        if data.get("additional_instructions"):
            instructions = f"{instructions}\n{data['additional_instructions']}"
        if (active := thread.active_run) is not None:
            raise invalid_request(f"Thread {thread.id} already has an active run {active.id}.")
        extra = [
            message_object(sim, thread.id, message, param=f"additional_messages[{index}].content")
            for index, message in enumerate(data.get("additional_messages") or ())
        ]
        tool_choice = data.get("tool_choice") or "auto"
        created = now()
        body: dict[str, Any] = {
            "id": sim.new_id("run_"),
            "object": "thread.run",
            "created_at": created,
            "assistant_id": assistant_id,
            "thread_id": thread.id,
            "status": "queued",
            "started_at": None,
            "expires_at": created + 600,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": None,
            "required_action": None,
            "last_error": None,
            "model": model,
            "instructions": instructions,
            "tools": tools,
            "metadata": data.get("metadata") or {},
            "usage": None,
            "temperature": data.get("temperature", 1.0),
            "top_p": data.get("top_p", 1.0),
            "max_prompt_tokens": data.get("max_prompt_tokens"),
            "max_completion_tokens": data.get("max_completion_tokens"),
            "truncation_strategy": {"type": "auto", "last_messages": None},
            "incomplete_details": None,
            "response_format": "auto",
            "tool_choice": tool_choice,
            "parallel_tool_calls": data.get("parallel_tool_calls", True),
        }
        run = RunRecord(body, thread, [] if tool_choice == "none" else names, sim.new_id)
        reply = _plan(sim, request, run, messages=extra)
        thread.messages.extend(extra)
        thread.runs.append(run)
        sim.runs.add(run.id, run)
        return _play(sim, request, run, reply, stream=bool(data.get("stream")), resumed=False)

    @get("/")
    async def list_runs(
        self,
        sim: NamedDependency[SimulatorState],
        thread_id: FromPath[str],
        limit: FromQuery[int] = 20,
        order: FromQuery[str] = "desc",
        after: FromQuery[str | None] = None,
        before: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        runs = [run.body for run in get_thread(sim, thread_id).runs]
        return cursor_page(runs, order=order, limit=limit, after=after, before=before)

    @get("/{run_id:str}")
    async def retrieve(
        self, sim: NamedDependency[SimulatorState], thread_id: FromPath[str], run_id: FromPath[str]
    ) -> dict[str, Any]:
        return _get_run(sim, get_thread(sim, thread_id), run_id).body

    @post("/{run_id:str}/submit_tool_outputs", status_code=HTTP_200_OK)
    async def submit_tool_outputs(
        self,
        request: Request[Any, Any, Any],
        sim: NamedDependency[SimulatorState],
        thread_id: FromPath[str],
        run_id: FromPath[str],
        data: JSONBody[dict[str, Any]],
    ) -> Response[Any]:
        run = _get_run(sim, get_thread(sim, thread_id), run_id)
        status = run.body["status"]
        if status != "requires_action" or run.tool_step is None:
            raise invalid_request(f'Runs in status "{status}" do not accept tool outputs.')
        raw = data.get("tool_outputs")
        if not isinstance(raw, list):
            raise missing_parameter("tool_outputs")
        outputs: dict[str, str] = {}
        for index, item in enumerate(raw):
            if not isinstance(item, dict) or not isinstance(item.get("tool_call_id"), str):
                raise missing_parameter(f"tool_outputs[{index}].tool_call_id")
            outputs[item["tool_call_id"]] = str(item.get("output") or "")
        expected = [call["id"] for call in run.tool_step["step_details"]["tool_calls"]]
        if sorted(outputs) != sorted(expected):
            raise invalid_request(
                f"Expected tool outputs for call_ids {expected}, got {list(outputs)}", param="tool_outputs"
            )
        reply = _plan(sim, request, run, outputs=run.output_entries(outputs))
        run.submit(outputs)
        return _play(sim, request, run, reply, stream=bool(data.get("stream")), resumed=True)

    @post("/{run_id:str}/cancel", status_code=HTTP_200_OK)
    async def cancel(
        self, sim: NamedDependency[SimulatorState], thread_id: FromPath[str], run_id: FromPath[str]
    ) -> dict[str, Any]:
        run = _get_run(sim, get_thread(sim, thread_id), run_id)
        if run.terminal:
            raise invalid_request(f"Cannot cancel run with status '{run.body['status']}'.")
        answer = {**run.body, "status": "cancelling"}
        run.cancel()
        return answer
