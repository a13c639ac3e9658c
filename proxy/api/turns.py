"""Starting a turn from a request: admit it, check the thread, take its lock, hand the job to the manager."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection
from typing import Any

import anyio.lowlevel
from litestar import Request

from proxy.api.conversations import other_device_binding
from proxy.api.deps import Caller
from proxy.api.errors import ApiError
from proxy.api.validation import check_id, reject_nul
from proxy.limits.backends import Scope
from proxy.limits.limiter import Action, RateLimited, rate_limited_error
from proxy.services import Services
from proxy.store.threads import LockedThread, LockResult, ThreadRecord, new_id
from proxy.turns.admission import TurnRefused
from proxy.turns.runner import INTERRUPTED, ActiveRun, TurnJob, history_window
from proxy.visitors import Visitor


def same_user(thread: ThreadRecord, visitor: Visitor) -> bool:
    """A signed-in user's thread needs that user's valid token in this very request."""
    return thread.visitor_user_id is None or thread.visitor_user_id == visitor.user_id


def turn_visitor(thread: ThreadRecord, visitor: Visitor) -> Visitor:
    """Who the turn's tools serve: the identity this request proved for the thread's own user, else
    nobody in particular (an anonymous thread's visitor, whatever the request's token says)."""
    if thread.visitor_user_id is not None and thread.visitor_user_id == visitor.user_id:
        return visitor
    return Visitor(id=thread.visitor)


logger = logging.getLogger(__name__)


def check_message(text: str, limit: int) -> str:
    text = reject_nul(text, "message").strip()
    if not text:
        raise ApiError(400, "empty_message", "The message is empty.")
    if len(text) > limit:
        raise ApiError(413, "message_too_long", f"The message is longer than {limit} characters.", limit=limit)
    return text


async def enforce_limits(
    services: Services,
    caller: Caller,
    request: Request[Any, Any, Any],
    action: Action,
    *,
    scopes: Collection[Scope] | None = None,
    count: bool = True,
) -> None:
    """Count the request against the tenant's limits; 429 with Retry-After when over.

    ``scopes`` and ``count``: see :meth:`proxy.limits.limiter.RateLimiter.check`.
    """
    try:
        await services.limiter.check(
            tenant=caller.tenant,
            visitor=caller.visitor.binding,
            client_ip=services.limiter.client_ip(request),
            action=action,
            via_client_key=caller.via_client_key,
            scopes=scopes,
            count=count,
        )
    except RateLimited as exc:
        raise rate_limited_error(exc) from None


def refused_error(exc: TurnRefused) -> ApiError:
    """The 503 for a turn the worker will not start now, with ``Retry-After``."""
    return ApiError.from_error(exc)


async def begin_turn(
    services: Services,
    caller: Caller,
    request: Request[Any, Any, Any],
    thread_id: str,
    text: str,
    *,
    page_url: str | None = None,
) -> ActiveRun:
    """Lock the thread for a new run and start it; 404 if not the caller's, 409 if busy.

    503 when the worker will not start a turn now (overloaded, shutting down), before any database,
    rate limiter or provider work: the turn is refused cheaply and nothing is counted or locked.
    """
    check_id(thread_id)
    text = check_message(text, services.settings.max_message_chars)
    if page_url is not None:
        reject_nul(page_url, "page_url")
    try:
        with services.turns.admit():  # TurnRefused comes only from here
            return await _lock_and_start(services, caller, request, thread_id, text, page_url=page_url)
    except TurnRefused as exc:
        raise refused_error(exc) from None


async def _undo_lock(services: Services, thread: ThreadRecord, run_id: str) -> None:
    if isinstance(thread, LockedThread) and thread.user_message_id is not None:
        await services.db.execute("delete from messages where id = %s", (thread.user_message_id,))
    await services.threads.unlock(thread.id, run_id)


async def _lock_and_start(
    services: Services,
    caller: Caller,
    request: Request[Any, Any, Any],
    thread_id: str,
    text: str,
    *,
    page_url: str | None,
) -> ActiveRun:
    callers_own: tuple[Scope, ...] = ("visitor", "ip")
    tenant_wide: tuple[Scope, ...] = ("tenant",)
    # the caller's own quotas count every attempt; the tenant's, shared by all its visitors, counts
    # only turns that will run: a message to a thread that does not exist must not spend it
    await enforce_limits(services, caller, request, "message", scopes=callers_own)
    await enforce_limits(services, caller, request, "message", scopes=tenant_wide, count=False)
    run_id = new_id("run")
    # a short lease, renewed while the turn runs (proxy.turns.leases)
    lease = services.settings.turn_lease

    async def lock(visitor: str | None) -> tuple[LockResult, ThreadRecord | None]:
        return await services.threads.lock(
            thread_id,
            tenant=caller.tenant.name,
            visitor=visitor,
            run_id=run_id,
            lease_seconds=lease,
            user_text=text,
            history=history_window(services.engine_for(caller.tenant)),
        )

    result, thread = await lock(caller.visitor.binding)
    if result == "missing":  # a signed-in visitor's conversation started on another device
        other = await other_device_binding(services, caller=caller, request=request, thread_id=thread_id)
        if other is not None:
            result, thread = await lock(other)
    if result == "missing" or thread is None:
        raise ApiError(404, "thread_not_found", "No such thread.")
    if not same_user(thread, caller.visitor):  # a binding written before threads named their user
        if result == "acquired":
            await _undo_lock(services, thread, run_id)
        raise ApiError(404, "thread_not_found", "No such thread.")
    if result == "busy":
        raise ApiError(409, "thread_busy", "A reply is still being written in this thread; wait or stop it.")
    with contextlib.suppress(ApiError):  # full since the check above (a race of a few turns): let it run
        await enforce_limits(services, caller, request, "message", scopes=tenant_wide)
    if isinstance(thread, LockedThread) and thread.abandoned_run is not None:
        # taken over from a worker that died: end the dead turn's saved stream, if any (the thread
        # is locked for this turn now: a failure here must not keep it from starting)
        try:
            await services.event_log.end_abandoned([thread.abandoned_run], INTERRUPTED.as_dict())
        except Exception:
            logger.warning("could not end the stream of a dead turn", extra={"run_id": thread.abandoned_run})
    tenant = caller.tenant
    job = TurnJob(
        tenant=tenant.name,
        thread=thread,
        run_id=run_id,
        user_text=text,
        visitor=turn_visitor(thread, caller.visitor),
        engine=services.engine_for(tenant),
        tools=services.tools_for(tenant),
        store=services.threads,
        timeout=services.settings.turn_timeout,
        tool_services=services.tool_services,
        tenant_config=tenant.config,
        page_url=page_url,
        budgets=services.budgets,
        # the shop's own servers and staff may read the provider's words in an error; visitors may not
        operator=caller.via_client_key or caller.visitor.kind == "staff",
    )
    run = services.turns.start(job)
    # let the turn run up to its provider request before this response's start-up (headers through
    # the middlewares, the streaming task): the provider starts thinking ~1.5 ms sooner
    await anyio.lowlevel.checkpoint()
    return run
