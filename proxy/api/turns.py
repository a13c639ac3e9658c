"""Starting a turn from a request: admit it, check the thread, take its lock, hand the job to the manager."""

from __future__ import annotations

import logging
from typing import Any

import anyio.lowlevel
from litestar import Request

from proxy.api.deps import Caller
from proxy.api.errors import ApiError
from proxy.limits.limiter import Action, RateLimited, rate_limited_error
from proxy.services import Services
from proxy.store.threads import LockedThread, new_id
from proxy.turns.admission import TurnRefused
from proxy.turns.runner import INTERRUPTED, ActiveRun, TurnJob, history_window

logger = logging.getLogger(__name__)


def check_message(text: str, limit: int) -> str:
    text = text.strip()
    if not text:
        raise ApiError(400, "empty_message", "The message is empty.")
    if len(text) > limit:
        raise ApiError(413, "message_too_long", f"The message is longer than {limit} characters.", limit=limit)
    return text


async def enforce_limits(services: Services, caller: Caller, request: Request[Any, Any, Any], action: Action) -> None:
    """Count the request against the tenant's limits; 429 with Retry-After when over."""
    try:
        await services.limiter.check(
            tenant=caller.tenant,
            visitor=caller.visitor.binding,
            client_ip=services.limiter.client_ip(request),
            action=action,
            via_client_key=caller.via_client_key,
        )
    except RateLimited as exc:
        raise rate_limited_error(exc) from None


def refused_error(exc: TurnRefused) -> ApiError:
    """The 503 for a turn the worker will not start now, with ``Retry-After``."""
    if exc.reason == "shutting_down":
        error = ApiError(503, "shutting_down", "The server is restarting; send the message again in a moment.")
    else:
        error = ApiError(
            503,
            "overloaded",
            "The assistant is very busy right now; send the message again in a moment.",
            reason=exc.reason,
            retry_after=exc.retry_after,
        )
    error.headers = {"Retry-After": str(exc.retry_after)}
    return error


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
    text = check_message(text, services.settings.max_message_chars)
    try:
        with services.turns.admit():  # TurnRefused comes only from here
            return await _lock_and_start(services, caller, request, thread_id, text, page_url=page_url)
    except TurnRefused as exc:
        raise refused_error(exc) from None


async def _lock_and_start(
    services: Services,
    caller: Caller,
    request: Request[Any, Any, Any],
    thread_id: str,
    text: str,
    *,
    page_url: str | None,
) -> ActiveRun:
    await enforce_limits(services, caller, request, "message")
    run_id = new_id("run")
    # a short lease, renewed while the turn runs (proxy.turns.leases)
    result, thread = await services.threads.lock(
        thread_id,
        tenant=caller.tenant.name,
        visitor=caller.visitor.binding,
        run_id=run_id,
        lease_seconds=services.settings.turn_lease,
        user_text=text,
        history=history_window(services.engine_for(caller.tenant), caller.tenant.config),
    )
    if result == "missing" or thread is None:
        raise ApiError(404, "thread_not_found", "No such thread.")
    if result == "busy":
        raise ApiError(409, "thread_busy", "A reply is still being written in this thread; wait or stop it.")
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
        visitor=thread.owner,
        engine=services.engine_for(tenant),
        tools=services.tools_for(tenant),
        store=services.threads,
        timeout=services.settings.turn_timeout,
        tool_services=services.tool_services,
        tenant_config=tenant.config,
        page_url=page_url,
        budgets=services.budgets,
    )
    run = services.turns.start(job)
    # let the turn run up to its provider request before this response's start-up (headers through
    # the middlewares, the streaming task): the provider starts thinking ~1.5 ms sooner
    await anyio.lowlevel.checkpoint()
    return run
