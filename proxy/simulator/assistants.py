"""Assistants API objects other than runs: assistants, threads and their messages.

Any id starting with ``asst_`` names an assistant (a fixed one unless it was created here), so a
proxy configured with some assistant id works against the simulator. Listing assistants
(``GET /v1/assistants``) answers 404 ``Invalid URL``, as OpenAI does now that the Assistants API is
being retired; the engines must not depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from proxy.simulator.errors import invalid_request, missing_parameter, not_found
from proxy.simulator.faults import delete_fault
from proxy.simulator.listing import cursor_page
from proxy.simulator.models import check_model
from proxy.simulator.state import SimulatorState, now
from proxy.simulator.tools import nested_function_tools

if TYPE_CHECKING:
    from proxy.simulator.runs import RunRecord

__all__ = (
    "AssistantController",
    "ThreadController",
    "ThreadRecord",
    "get_assistant",
    "get_thread",
    "message_object",
    "message_text",
)

_DEFAULT_MODEL = "gpt-4o-mini"
_DEFAULT_INSTRUCTIONS = "You are a helpful assistant."


@dataclass(slots=True, eq=False)
class ThreadRecord:
    id: str
    created_at: int
    metadata: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)

    @property
    def active_run(self) -> RunRecord | None:
        run = self.runs[-1] if self.runs else None
        return run if run is not None and not run.terminal else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "thread",
            "created_at": self.created_at,
            "metadata": self.metadata,
            "tool_resources": {},
        }


def _assistant(assistant_id: str, data: dict[str, Any], created_at: int) -> dict[str, Any]:
    tools, _ = nested_function_tools(data.get("tools"))
    return {
        "id": assistant_id,
        "object": "assistant",
        "created_at": created_at,
        "name": data.get("name"),
        "description": data.get("description"),
        "model": check_model(data.get("model", _DEFAULT_MODEL)),
        "instructions": data.get("instructions", _DEFAULT_INSTRUCTIONS),
        "tools": tools,
        "metadata": data.get("metadata") or {},
        "temperature": data.get("temperature", 1.0),
        "top_p": data.get("top_p", 1.0),
        "response_format": data.get("response_format", "auto"),
        "tool_resources": {},
    }


def get_assistant(sim: SimulatorState, assistant_id: str) -> dict[str, Any]:
    if (stored := sim.assistants.get(assistant_id)) is not None:
        return stored
    if assistant_id.startswith("asst_"):
        return _assistant(assistant_id, {"name": "Simulated assistant"}, 0)
    raise not_found(f"No assistant found with id '{assistant_id}'.")


def get_thread(sim: SimulatorState, thread_id: str) -> ThreadRecord:
    thread = sim.threads.get(thread_id)
    if thread is None:
        raise not_found(f"No thread found with id '{thread_id}'.")
    return thread


def _content(raw: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        return [{"type": "text", "text": {"value": raw, "annotations": []}}]
    if not isinstance(raw, list):
        raise missing_parameter(param)
    blocks: list[dict[str, Any]] = []
    for part in raw:
        if isinstance(part, dict) and part.get("type") == "text":
            blocks.append({"type": "text", "text": {"value": str(part.get("text", "")), "annotations": []}})
        elif isinstance(part, dict):
            blocks.append(part)
    return blocks


def message_object(
    sim: SimulatorState,
    thread_id: str,
    data: dict[str, Any],
    *,
    param: str = "content",
    run_id: str | None = None,
    assistant_id: str | None = None,
    status: str = "completed",
) -> dict[str, Any]:
    """A thread message from a client's ``{role, content, metadata}`` (or one the model writes)."""
    role = data.get("role")
    if role not in ("user", "assistant"):
        raise invalid_request(
            f"Invalid value: '{role}'. Supported values are: 'user' and 'assistant'.",
            param="role",
            code="invalid_value",
        )
    created = now()
    return {
        "id": sim.new_id("msg_"),
        "object": "thread.message",
        "created_at": created,
        "assistant_id": assistant_id,
        "thread_id": thread_id,
        "run_id": run_id,
        "role": role,
        "content": _content(data.get("content"), param),
        "attachments": data.get("attachments") or [],
        "metadata": data.get("metadata") or {},
        "status": status,
        "completed_at": created if status == "completed" else None,
        "incomplete_at": None,
        "incomplete_details": None,
    }


def message_text(message: dict[str, Any]) -> str:
    return "".join(block["text"]["value"] for block in message["content"] if block.get("type") == "text")


class AssistantController(Controller):
    path = "/assistants"

    @post("/", status_code=HTTP_200_OK)
    async def create(self, sim: NamedDependency[SimulatorState], data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        if "model" not in data:
            raise missing_parameter("model")
        assistant = _assistant(sim.new_id("asst_"), data, now())
        return sim.assistants.add(assistant["id"], assistant)

    @get("/{assistant_id:str}")
    async def retrieve(self, sim: NamedDependency[SimulatorState], assistant_id: FromPath[str]) -> dict[str, Any]:
        return get_assistant(sim, assistant_id)

    @post("/{assistant_id:str}", status_code=HTTP_200_OK)
    async def update(
        self, sim: NamedDependency[SimulatorState], assistant_id: FromPath[str], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        current = get_assistant(sim, assistant_id)
        assistant = _assistant(assistant_id, {**current, **data}, current["created_at"])
        return sim.assistants.add(assistant_id, assistant)

    @delete("/{assistant_id:str}", status_code=HTTP_200_OK)
    async def remove(self, sim: NamedDependency[SimulatorState], assistant_id: FromPath[str]) -> dict[str, Any]:
        get_assistant(sim, assistant_id)
        sim.assistants.pop(assistant_id, None)
        return {"id": assistant_id, "object": "assistant.deleted", "deleted": True}


class ThreadController(Controller):
    path = "/threads"

    @post("/", status_code=HTTP_200_OK)
    async def create(
        self, sim: NamedDependency[SimulatorState], data: JSONBody[dict[str, Any] | None] = None
    ) -> dict[str, Any]:
        data = data or {}
        thread = ThreadRecord(sim.new_id("thread_"), now(), data.get("metadata") or {})
        for index, message in enumerate(data.get("messages") or ()):
            if not isinstance(message, dict):
                raise invalid_request(f"Invalid type for 'messages[{index}]': expected an object.")
            thread.messages.append(message_object(sim, thread.id, message, param=f"messages[{index}].content"))
        return sim.threads.add(thread.id, thread).as_dict()

    @get("/{thread_id:str}")
    async def retrieve(self, sim: NamedDependency[SimulatorState], thread_id: FromPath[str]) -> dict[str, Any]:
        return get_thread(sim, thread_id).as_dict()

    @post("/{thread_id:str}", status_code=HTTP_200_OK)
    async def update(
        self, sim: NamedDependency[SimulatorState], thread_id: FromPath[str], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        thread = get_thread(sim, thread_id)
        if isinstance(data.get("metadata"), dict):
            thread.metadata = data["metadata"]
        return thread.as_dict()

    @delete("/{thread_id:str}", status_code=HTTP_200_OK)
    async def remove(self, sim: NamedDependency[SimulatorState], thread_id: FromPath[str]) -> dict[str, Any]:
        delete_fault(sim.delete_faults)
        get_thread(sim, thread_id)
        del sim.threads[thread_id]
        return {"id": thread_id, "object": "thread.deleted", "deleted": True}

    @post("/{thread_id:str}/messages", status_code=HTTP_200_OK)
    async def add_message(
        self, sim: NamedDependency[SimulatorState], thread_id: FromPath[str], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        thread = get_thread(sim, thread_id)
        if (run := thread.active_run) is not None:
            raise invalid_request(f"Can't add messages to {thread.id} while a run {run.id} is active.")
        message = message_object(sim, thread.id, data)
        thread.messages.append(message)
        return message

    @get("/{thread_id:str}/messages")
    async def list_messages(
        self,
        sim: NamedDependency[SimulatorState],
        thread_id: FromPath[str],
        limit: FromQuery[int] = 20,
        order: FromQuery[str] = "desc",
        after: FromQuery[str | None] = None,
        before: FromQuery[str | None] = None,
        run_id: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        messages = get_thread(sim, thread_id).messages
        if run_id is not None:
            messages = [message for message in messages if message["run_id"] == run_id]
        return cursor_page(messages, order=order, limit=limit, after=after, before=before)

    @get("/{thread_id:str}/messages/{message_id:str}")
    async def retrieve_message(
        self, sim: NamedDependency[SimulatorState], thread_id: FromPath[str], message_id: FromPath[str]
    ) -> dict[str, Any]:
        for message in get_thread(sim, thread_id).messages:
            if message["id"] == message_id:
                return message
        raise not_found(f"No message found with id '{message_id}'.")
