"""The v1 client API: threads, messages streamed as SSE, history, cancel, delete."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from litestar import Request, delete, get, post
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.response import Stream
from msgspec import Meta, Struct
from pydantic import BaseModel

from proxy.api.conversations import IDENTITY_HEADER, ConversationController, delete_owned, owner_of
from proxy.api.deps import Caller, CallerDep, ServicesDep, identified
from proxy.api.errors import ApiError
from proxy.api.sse import event_stream, v1_frames
from proxy.api.turns import begin_first_turn, begin_turn, enforce_limits, same_user
from proxy.api.validation import check_id
from proxy.console.visitor import held_reply, held_reply_without_turns
from proxy.services import Services
from proxy.store.conversations import ConversationStore
from proxy.store.threads import ThreadRecord
from proxy.turns.events import Batches, parse_event_id
from proxy.turns.remote_cancel import request_cancel
from proxy.turns.turn_request import ThreadHeld
from proxy.visitors import Visitor

logger = logging.getLogger(__name__)


# The request bodies are msgspec structs, which Litestar converts to natively (in C) from the decoded
# JSON, where a pydantic model takes a plugin's decoder and its own validation: the handler's
# arguments of a new chat checked in 2.2-2.8 µs instead of 8.3-11.1 (best of five, in-process). The
# OpenAPI schema is the same; unknown fields are refused, as before.


class CreateThreadIn(Struct, forbid_unknown_fields=True):
    identity_token: Annotated[str, Meta(max_length=4096, description="HS256 token from the host site")] | None = None
    message: Annotated[
        str | None,
        Meta(
            description="The conversation's first message: the reply streams back (text/event-stream) in this response"
        ),
    ] = None
    page_url: Annotated[str, Meta(max_length=2000, description="With a message: the page the visitor is on")] | None = (
        None
    )


class ThreadOut(BaseModel):
    thread_id: str
    created_at: int


class MessageIn(Struct, forbid_unknown_fields=True):
    content: Annotated[str, Meta(description="The visitor's message")]
    page_url: Annotated[str, Meta(max_length=2000, description="The page the visitor is on")] | None = None


class MessageOut(BaseModel):
    id: str
    role: str  # user | assistant | human (a person of the site's staff; ``author`` is their name)
    content: str
    created_at: int
    author: str | None = None


class HistoryOut(BaseModel):
    thread_id: str
    messages: list[MessageOut]


def identify(caller: Caller, token: str | None, request: Request[Any, Any, Any]) -> Visitor:
    """The visitor a new thread is bound to: the body's token (the old way) or the request's
    (verified once: the widget sends the same token in both)."""
    if not token or token == request.headers.get(IDENTITY_HEADER):
        return caller.visitor
    return identified(caller.tenant, Visitor(id=caller.visitor.id), token)


async def owned_thread(services: Services, caller: Caller, thread_id: str) -> ThreadRecord:
    """The caller's thread, or 404: the tenant's, bound to the caller's visitor and, if a user's, to that user."""
    check_id(thread_id)
    thread = await services.threads.get(thread_id, tenant=caller.tenant.name, visitor=caller.visitor.binding)
    if thread is None or not same_user(thread, caller.visitor):
        raise ApiError(404, "thread_not_found", "No such thread.")
    return thread


async def run_batches(services: Services, thread: ThreadRecord, run_id: str, *, start: int) -> Batches:
    """A run of the thread from event ``start`` on, wherever it runs; 404 if there is no such run."""
    heartbeat = services.settings.heartbeat_interval
    batches = await services.turns.resume(thread.id, run_id, after=start, heartbeat=heartbeat)
    if batches is None:
        raise ApiError(404, "run_not_found", "No such reply to resume; read the thread's messages instead.")
    return batches


async def visible_thread_id(services: Services, request: Request[Any, Any, Any], caller: Caller, thread_id: str) -> str:
    """This browser's thread, or else (with ``X-Identity-Token``) the signed-in visitor's from another device."""
    try:
        return (await owned_thread(services, caller, thread_id)).id
    except ApiError:
        if not request.headers.get(IDENTITY_HEADER):
            raise
        found = await ConversationStore(services.db).find(owner_of(request, caller), thread_id)
        if found is not None:
            return found
        raise ApiError(404, "thread_not_found", "No such thread.") from None


class ThreadController(ConversationController):
    """Threads, and (inherited) the visitor's list of them: one controller per path for Litestar."""

    path = "/v1/threads"
    tags = ["threads"]

    @post(
        "/",
        status_code=201,
        summary="Start a conversation; with a first message, its reply streams back as server-sent events",
    )
    async def create_thread(
        self,
        request: Request[Any, Any, Any],
        caller: CallerDep,
        services: ServicesDep,
        data: JSONBody[CreateThreadIn | None] = None,
    ) -> ThreadOut | Stream:
        token = data.identity_token if data else None
        if data is not None and data.message is not None:
            # the first message in the same request: thread, lock and message in one statement
            visitor = identify(caller, token, request)
            run = await begin_first_turn(services, caller, request, visitor, data.message, page_url=data.page_url)
            frames = v1_frames(services.turns.follow(run, heartbeat=services.settings.heartbeat_interval))
            stream = event_stream(frames)
            stream.headers["Location"] = f"/v1/threads/{run.thread_id}"
            return stream
        await enforce_limits(services, caller, request, "thread")
        visitor = identify(caller, token, request)
        thread = await services.threads.create(
            tenant=caller.tenant.name, visitor=visitor, engine=caller.tenant.config.engine
        )
        return ThreadOut(thread_id=thread.id, created_at=int(thread.created_at.timestamp()))

    @post(
        "/{thread_id:str}/messages",
        status_code=200,
        media_type="text/event-stream",
        summary="Send a message; the reply streams back as server-sent events",
    )
    async def post_message(
        self,
        request: Request[Any, Any, Any],
        thread_id: FromPath[str],
        caller: CallerDep,
        services: ServicesDep,
        data: JSONBody[MessageIn],
    ) -> Stream:
        try:
            run = await begin_turn(
                services, caller, request, thread_id, data.content, page_url=data.page_url, for_holder=True
            )
        except ThreadHeld as held:
            return await held_reply(request, held.held)  # a person holds the conversation: stored for them, no turn
        except ApiError as exc:
            # no turns now (overloaded, shutting down): a thread a person holds needs none
            if exc.status != 503:
                raise
            kept = await held_reply_without_turns(services, caller, request, thread_id, data.content)
            if kept is None:
                raise
            return kept
        return event_stream(v1_frames(services.turns.follow(run, heartbeat=services.settings.heartbeat_interval)))

    @get("/{thread_id:str}/messages", summary="The conversation so far, oldest first")
    async def list_messages(
        self, request: Request[Any, Any, Any], thread_id: FromPath[str], caller: CallerDep, services: ServicesDep
    ) -> HistoryOut:
        found = await visible_thread_id(services, request, caller, thread_id)
        messages = await services.threads.messages(found)
        return HistoryOut(
            thread_id=found,
            messages=[
                MessageOut(
                    id=f"msg_{m.id}",
                    role="human" if m.author else m.role,
                    content=m.content,
                    created_at=int(m.created_at.timestamp()),
                    author=m.author,
                )
                for m in messages
            ],
        )

    @post("/{thread_id:str}/runs/{run_id:str}/cancel", status_code=202, summary="Stop a running reply")
    async def cancel_run(
        self,
        request: Request[Any, Any, Any],
        thread_id: FromPath[str],
        run_id: FromPath[str],
        caller: CallerDep,
        services: ServicesDep,
    ) -> dict[str, Any]:
        await visible_thread_id(services, request, caller, thread_id)
        check_id(run_id, "run")
        if not services.turns.cancel(run_id, thread_id=thread_id):
            # not running here: if it holds the thread, the worker running it is told to stop it
            if await services.threads.active_run(thread_id) != run_id:
                raise ApiError(404, "run_not_found", "No such running reply.")
            await request_cancel(services.db, thread_id=thread_id, run_id=run_id)
        return {"run_id": run_id, "status": "cancelling"}

    @get(
        "/{thread_id:str}/runs/{run_id:str}/events",
        media_type="text/event-stream",
        summary="Resume a reply's stream after a lost connection (Last-Event-ID)",
    )
    async def resume_run(
        self,
        thread_id: FromPath[str],
        run_id: FromPath[str],
        caller: CallerDep,
        services: ServicesDep,
        last_event_id: Annotated[str | None, HeaderParameter(name="Last-Event-ID")] = None,
        after: Annotated[str | None, QueryParameter(name="last_event_id")] = None,
    ) -> Stream:
        thread = await owned_thread(services, caller, thread_id)
        check_id(run_id, "run")
        try:
            seq = parse_event_id(last_event_id or after, run_id)
        except ValueError as exc:
            raise ApiError(400, "invalid_event_id", str(exc)) from None
        return event_stream(v1_frames(await run_batches(services, thread, run_id, start=seq)))

    @delete("/{thread_id:str}", status_code=204, summary="Delete a conversation")
    async def delete_thread(
        self, request: Request[Any, Any, Any], thread_id: FromPath[str], caller: CallerDep, services: ServicesDep
    ) -> None:
        try:
            thread = await owned_thread(services, caller, thread_id)
        except ApiError:
            if not request.headers.get(IDENTITY_HEADER):
                raise
            # a signed-in visitor's conversation started on another device
            return await delete_owned(services, owner_of(request, caller), thread_id)
        if await services.threads.active_run(thread.id):
            raise ApiError(409, "thread_busy", "A reply is still being written in this thread; stop it first.")
        try:
            await services.engine_for(caller.tenant).delete_conversation(thread.provider_id)
        except Exception:  # the provider's copy is best effort; ours goes regardless
            logger.warning("could not delete the provider conversation", extra={"thread_id": thread.id})
        await services.threads.delete(thread.id)
