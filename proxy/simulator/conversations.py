"""The Conversations API: durable item lists that responses read from and append to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from proxy.simulator.errors import APIError, invalid_request, not_found
from proxy.simulator.faults import delete_fault
from proxy.simulator.items import check_tool_pairing, limit_error, normalize_items
from proxy.simulator.listing import cursor_page
from proxy.simulator.state import SimulatorState, now

__all__ = ("Conversation", "ConversationController", "get_conversation", "locked_error", "switched_off")

_MAX_ITEMS_PER_REQUEST = 20


@dataclass(slots=True)
class Conversation:
    id: str
    created_at: int
    metadata: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    locked_by: str | None = None
    """The response in progress on this conversation; a second one is refused meanwhile."""

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "object": "conversation", "created_at": self.created_at, "metadata": self.metadata}


def get_conversation(sim: SimulatorState, conversation_id: str, *, param: str | None = None) -> Conversation:
    conversation = sim.conversations.get(conversation_id)
    if conversation is None:
        raise not_found(f"Conversation with id '{conversation_id}' not found.", param=param)
    return conversation


def locked_error() -> APIError:
    return invalid_request(
        "Another process is currently operating on this conversation. Please retry in a few seconds.",
        code="conversation_locked",
    )


def _new_items(sim: SimulatorState, conversation: Conversation | None, raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if isinstance(raw, list) and len(raw) > _MAX_ITEMS_PER_REQUEST:
        raise limit_error("items", len(raw), _MAX_ITEMS_PER_REQUEST)
    items = normalize_items(raw, "items", sim.new_id)
    history = conversation.items if conversation is not None else []
    check_tool_pairing([*history, *items], param="items", require_outputs=False)
    return items


def switched_off(request: Request[Any, Any, Any], sim: SimulatorState) -> Response[dict[str, str]] | None:
    """With ``conversations_api`` off, the answer a server without the API gives (FastAPI's 404)."""
    if sim.config.conversations_api or not request.url.path.startswith("/v1/conversations"):
        return None
    return Response({"detail": "Not Found"}, status_code=404)


class ConversationController(Controller):
    path = "/conversations"

    @post("/", status_code=HTTP_200_OK)
    async def create(
        self, sim: NamedDependency[SimulatorState], data: JSONBody[dict[str, Any] | None] = None
    ) -> dict[str, Any]:
        data = data or {}
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise invalid_request("Invalid type for 'metadata': expected an object.", param="metadata")
        items = _new_items(sim, None, data.get("items"))
        conversation = Conversation(sim.new_id("conv_"), now(), metadata, items)
        sim.conversations.add(conversation.id, conversation)
        return conversation.as_dict()

    @get("/{conversation_id:str}")
    async def retrieve(self, sim: NamedDependency[SimulatorState], conversation_id: FromPath[str]) -> dict[str, Any]:
        return get_conversation(sim, conversation_id).as_dict()

    @post("/{conversation_id:str}", status_code=HTTP_200_OK)
    async def update(
        self, sim: NamedDependency[SimulatorState], conversation_id: FromPath[str], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        conversation = get_conversation(sim, conversation_id)
        metadata = data.get("metadata")
        if not isinstance(metadata, dict):
            raise invalid_request("Invalid type for 'metadata': expected an object.", param="metadata")
        conversation.metadata = metadata
        return conversation.as_dict()

    @delete("/{conversation_id:str}", status_code=HTTP_200_OK)
    async def remove(self, sim: NamedDependency[SimulatorState], conversation_id: FromPath[str]) -> dict[str, Any]:
        delete_fault(sim.delete_faults)
        get_conversation(sim, conversation_id)
        del sim.conversations[conversation_id]
        return {"id": conversation_id, "object": "conversation.deleted", "deleted": True}

    @get("/{conversation_id:str}/items")
    async def list_items(
        self,
        sim: NamedDependency[SimulatorState],
        conversation_id: FromPath[str],
        limit: FromQuery[int] = 20,
        order: FromQuery[str] = "desc",
        after: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        conversation = get_conversation(sim, conversation_id)
        return cursor_page(conversation.items, order=order, limit=limit, after=after)

    @post("/{conversation_id:str}/items", status_code=HTTP_200_OK)
    async def add_items(
        self, sim: NamedDependency[SimulatorState], conversation_id: FromPath[str], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        conversation = get_conversation(sim, conversation_id)
        if conversation.locked_by is not None:
            raise locked_error()
        items = _new_items(sim, conversation, data.get("items", []))
        conversation.items.extend(items)
        return cursor_page(items, order="asc", limit=100)

    @get("/{conversation_id:str}/items/{item_id:str}")
    async def retrieve_item(
        self, sim: NamedDependency[SimulatorState], conversation_id: FromPath[str], item_id: FromPath[str]
    ) -> dict[str, Any]:
        conversation = get_conversation(sim, conversation_id)
        for item in conversation.items:
            if item["id"] == item_id:
                return item
        raise not_found(f"Item with id '{item_id}' not found.")

    @delete("/{conversation_id:str}/items/{item_id:str}", status_code=HTTP_200_OK)
    async def remove_item(
        self, sim: NamedDependency[SimulatorState], conversation_id: FromPath[str], item_id: FromPath[str]
    ) -> dict[str, Any]:
        conversation = get_conversation(sim, conversation_id)
        kept = [item for item in conversation.items if item["id"] != item_id]
        if len(kept) == len(conversation.items):
            raise not_found(f"Item with id '{item_id}' not found.")
        conversation.items = kept
        return conversation.as_dict()
