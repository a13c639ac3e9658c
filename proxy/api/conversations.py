"""A visitor's conversations: ``GET /v1/threads``, ``PATCH /v1/threads/{id}``, ``DELETE /v1/threads``.

A signed-in visitor sends the host site's identity token in ``X-Identity-Token`` and sees their
conversations from every device; without it, the conversations of this browser's visitor id
(``X-Visitor-Id``). See :mod:`proxy.store.conversations` for who owns what.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

from litestar import Controller, Request, delete, get, patch
from litestar.params import FromPath, FromQuery, JSONBody
from pydantic import BaseModel, ConfigDict, Field

from proxy.api.deps import Caller, CallerDep, ServicesDep
from proxy.api.errors import ApiError
from proxy.services import Services
from proxy.store import provider_copies
from proxy.store.conversations import ConversationStore, InvalidCursor, Owner

logger = logging.getLogger(__name__)

IDENTITY_HEADER = "x-identity-token"
MAX_PAGE = 100


class ConversationOut(BaseModel):
    thread_id: str
    title: str
    created_at: int
    last_message_at: int
    preview: str = Field(description="The first words of the last message")
    message_count: int


class ConversationPage(BaseModel):
    threads: list[ConversationOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last")


class RenameIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(description="The new title; null goes back to the first question")


class RenamedOut(BaseModel):
    thread_id: str
    title: str | None


class DeletedAllOut(BaseModel):
    deleted: int
    busy: int = Field(description="Conversations left because a reply is being written in them")


def owner_of(request: Request[Any, Any, Any], caller: Caller) -> Owner:
    """The caller as an owner of conversations; a signed-in visitor by their verified user id."""
    from proxy.api.threads import identify

    visitor = identify(caller, request.headers.get(IDENTITY_HEADER) or None, request)
    owner = Owner(caller.tenant.name, visitor.binding, visitor.user_id if visitor.kind != "anonymous" else None)
    if not owner.known:
        raise ApiError(400, "visitor_required", "Send X-Visitor-Id (or X-Identity-Token) to list conversations.")
    return owner


def clean_title(title: str | None) -> str | None:
    if title is None:
        return None
    text = " ".join("".join(c if unicodedata.category(c)[0] != "C" else " " for c in title).split())
    if not text or len(text) > 120:
        raise ApiError(400, "invalid_title", "title must be 1 to 120 characters.")
    return text


async def other_device_binding(
    services: Services, request: Request[Any, Any, Any], caller: Caller, thread_id: str
) -> str | None:
    """For a signed-in visitor (``X-Identity-Token``): the binding of their thread started on another device."""
    if not request.headers.get(IDENTITY_HEADER):
        return None
    owner = owner_of(request, caller)
    return await ConversationStore(services.db).binding(owner, thread_id) if owner.user_id else None


async def delete_owned(services: Services, owner: Owner, thread_id: str) -> None:
    """Delete one conversation and (in the background of this request) its provider-side copy."""
    result = await ConversationStore(services.db).delete(owner, thread_id)
    if result == "missing":
        raise ApiError(404, "thread_not_found", "No such thread.")
    if result == "busy":
        raise ApiError(409, "thread_busy", "A reply is still being written in this thread; stop it first.")
    await _drain_quietly(services)


async def _drain_quietly(services: Services) -> None:
    try:
        await provider_copies.drain(services.db, services.engines)
    except Exception:  # queued: the retention task tries again
        logger.warning("could not delete provider-side conversations yet", exc_info=True)


class ConversationController(Controller):
    """Served through :class:`proxy.api.threads.ThreadController`, which extends it (same path)."""

    path = "/v1/threads"
    tags = ["threads"]

    @get("/", summary="The caller's conversations, most recent first")
    async def list_conversations(
        self,
        request: Request[Any, Any, Any],
        caller: CallerDep,
        services: ServicesDep,
        limit: FromQuery[int] = 20,
        cursor: FromQuery[str | None] = None,
    ) -> ConversationPage:
        if not 1 <= limit <= MAX_PAGE:
            raise ApiError(400, "invalid_limit", f"limit must be between 1 and {MAX_PAGE}.")
        if cursor is not None and len(cursor) > 400:
            raise ApiError(400, "invalid_cursor", "cursor is not one this API gave out")
        try:
            page, after = await ConversationStore(services.db).list(
                owner_of(request, caller), limit=limit, cursor=cursor
            )
        except InvalidCursor as exc:
            raise ApiError(400, "invalid_cursor", str(exc)) from None
        return ConversationPage(
            threads=[
                ConversationOut(
                    thread_id=c.id,
                    title=c.title,
                    created_at=int(c.created_at.timestamp()),
                    last_message_at=int(c.last_message_at.timestamp()),
                    preview=c.preview,
                    message_count=c.messages,
                )
                for c in page
            ],
            next_cursor=after,
        )

    @patch("/{thread_id:str}", summary="Rename a conversation")
    async def rename(
        self,
        request: Request[Any, Any, Any],
        thread_id: FromPath[str],
        caller: CallerDep,
        services: ServicesDep,
        data: JSONBody[RenameIn],
    ) -> RenamedOut:
        title = clean_title(data.title)
        if not await ConversationStore(services.db).rename(owner_of(request, caller), thread_id, title):
            raise ApiError(404, "thread_not_found", "No such thread.")
        return RenamedOut(thread_id=thread_id, title=title)

    @delete("/", status_code=200, summary="Delete all of the caller's conversations")
    async def delete_all(
        self, request: Request[Any, Any, Any], caller: CallerDep, services: ServicesDep
    ) -> DeletedAllOut:
        deleted, busy = await ConversationStore(services.db).delete_all(owner_of(request, caller))
        await _drain_quietly(services)
        return DeletedAllOut(deleted=deleted, busy=busy)
