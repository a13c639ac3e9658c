"""The visitor's side of a takeover: a message while a person holds the thread, and the live stream.

A message to a held thread is stored by the statement that would open its turn (see
:func:`proxy.api.turns.begin_turn`'s ``for_holder``): a thread nobody holds pays no extra round
trip to find that out. Only while the worker opens no turns is the hold looked up on its own.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

from proxy.api.deps import Caller, CallerDep, ServicesDep
from proxy.api.errors import ApiError
from proxy.api.sse import event_stream
from proxy.api.turns import check_message, enforce_limits, same_user
from proxy.api.validation import check_id
from proxy.console.runtime import console_of
from proxy.console.streams import frame, widget_events
from proxy.console.takeover import Holder, post_visitor_message_if_held
from proxy.services import Services
from proxy.store.threads import HeldThread, ThreadRecord


async def held_reply(request: Request[Any, Any, Any], held: HeldThread) -> Stream:
    """The answer to a message kept for the person holding the thread (the statement that was to
    open a turn stored it instead): the console is told, the visitor gets ``human.holding`` and
    ``done`` (no turn, no provider request)."""
    await console_of(request).hub.announce(held.thread_id)
    return _holding(Holder(held.takeover_id, held.staff_id, held.staff_name, held.since))


async def held_reply_without_turns(
    services: Services, caller: Caller, request: Request[Any, Any, Any], thread_id: str, text: str
) -> Stream | None:
    """While the worker opens no turns (503: overloaded, shutting down): a thread a person holds
    needs none, so it still takes the visitor's message, stored for them and announced (counted
    against the limits as any message; the refusal counted nothing). None: not held, the 503 stands."""
    check_id(thread_id)
    text = check_message(text, services.settings.max_message_chars)
    if not await _held(services, thread_id):
        return None
    if await _owned(services, caller, thread_id) is None:
        return None  # not the caller's: the 503 stands, as for any thread that is not held
    await enforce_limits(services, caller, request, "message")
    found = await post_visitor_message_if_held(
        services.db, thread_id=thread_id, tenant=caller.tenant.name, visitor=caller.visitor.binding, text=text
    )
    if found is None:
        return None  # handed back meanwhile
    await console_of(request).hub.announce(thread_id)
    return _holding(found)


def _holding(holder: Holder) -> Stream:
    async def frames() -> Any:
        yield frame("human.holding", holder.public()) + frame("done", {})

    return event_stream(frames())


async def _owned(services: Services, caller: Caller, thread_id: str) -> ThreadRecord | None:
    """The caller's thread (the tenant's, the visitor's, and the signed-in user's), else None."""
    thread = await services.threads.get(thread_id, tenant=caller.tenant.name, visitor=caller.visitor.binding)
    return thread if thread is not None and same_user(thread, caller.visitor) else None


async def _held(services: Services, thread_id: str) -> bool:
    row = await services.db.fetch_one(
        "select 1 as held from takeovers where thread_id = %s and ended_at is null", (thread_id,)
    )
    return row is not None


def _message_number(value: str | None) -> int:
    if not value:
        return 0
    digits = value.removeprefix("msg_")
    if not digits.isdigit():
        raise ApiError(400, "invalid_after", "'after' is a message id from the thread's history.")
    return int(digits)


@get(
    "/v1/threads/{thread_id:str}/live",
    media_type="text/event-stream",
    summary="A person's part in the conversation, live: joined, their messages, left",
    tags=["threads"],
)
async def thread_live(
    request: Request[Any, Any, Any],
    thread_id: FromPath[str],
    caller: CallerDep,
    services: ServicesDep,
    after: Annotated[str | None, QueryParameter(name="after")] = None,
) -> Stream:
    check_id(thread_id)
    start = _message_number(after)
    thread = await _owned(services, caller, thread_id)
    if thread is None:
        raise ApiError(404, "thread_not_found", "No such thread.")
    hub = console_of(request).hub
    return event_stream(widget_events(hub, thread.id, after=start, heartbeat=services.settings.heartbeat_interval))
