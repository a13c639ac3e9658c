"""Starting a turn from a request: validate it, admit it, count it, and open it in ``proxy.turns``.

Everything after the checks (the thread's lock, the message, the history, running the engine,
ending the turn) is :meth:`proxy.turns.manager.TurnManager.open`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Collection
from typing import Any

from litestar import Request

from proxy.api.conversations import other_device_binding
from proxy.api.deps import Caller
from proxy.api.errors import ApiError
from proxy.api.validation import check_id, reject_nul
from proxy.limits.backends import Scope
from proxy.limits.limiter import Action, RateLimited, rate_limited_error
from proxy.services import Services
from proxy.store.threads import ThreadRecord, new_id
from proxy.turns.admission import TurnRefused
from proxy.turns.runner import ActiveRun
from proxy.turns.turn_request import ThreadBusy, ThreadHeld, ThreadMissing, TurnRequest
from proxy.visitors import Visitor


def same_user(thread: ThreadRecord, visitor: Visitor) -> bool:
    """A signed-in user's thread needs that user's valid token in this very request."""
    return thread.visitor_user_id is None or thread.visitor_user_id == visitor.user_id


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
    client_ip: str | None = None,
) -> None:
    """Count the request against the tenant's limits; 429 with Retry-After when over.

    ``scopes`` and ``count``: see :meth:`proxy.limits.limiter.RateLimiter.check`. ``client_ip``:
    the request's address when the caller resolved it already (several checks of one request).
    """
    try:
        await services.limiter.check(
            tenant=caller.tenant.config,
            visitor=caller.visitor.binding,
            client_ip=client_ip or services.limiter.client_ip(request),
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


_NOT_FOUND = ("thread_not_found", "No such thread.")
_BUSY = ("thread_busy", "A reply is still being written in this thread; wait or stop it.")
CALLERS_OWN: tuple[Scope, ...] = ("visitor", "ip")
TENANT_WIDE: tuple[Scope, ...] = ("tenant",)
# a turn's checks before it opens, in order: (action, scopes (None: all), whether it counts); the
# tenant-wide message limit is only looked at here and counted once the turn is open
_Check = tuple[Action, tuple[Scope, ...] | None, bool]
_MESSAGE_CHECKS: tuple[_Check, ...] = (
    ("message", CALLERS_OWN, True),
    ("message", TENANT_WIDE, False),
)
_NEW_THREAD_CHECKS: tuple[_Check, ...] = (("thread", None, True), *_MESSAGE_CHECKS)


async def begin_turn(
    services: Services,
    caller: Caller,
    request: Request[Any, Any, Any],
    thread_id: str,
    text: str,
    *,
    page_url: str | None = None,
    for_holder: bool = False,
) -> ActiveRun:
    """Start a turn on the caller's thread; 404 if not the caller's, 409 if busy.

    ``for_holder``: a thread a person of the staff holds keeps the message for them and raises
    :class:`~proxy.turns.turn_request.ThreadHeld` (counted as any message), instead of the 409.

    503 when the worker will not start a turn now (overloaded, shutting down), before any database,
    rate limiter or provider work: the turn is refused cheaply and nothing is counted or locked.
    The caller's own quotas count every attempt; the tenant's, shared by all its visitors, counts
    only turns that run: a message to a thread that does not exist must not spend it.
    """
    check_id(thread_id)
    text = check_message(text, services.settings.max_message_chars)
    if page_url is not None:
        reject_nul(page_url, "page_url")
    ask = TurnRequest(
        tenant=caller.tenant.config,
        thread_id=thread_id,
        text=text,
        visitor=caller.visitor,
        binding=caller.visitor.binding,
        page_url=page_url,
        operator=_operator(caller, caller.visitor),
        for_holder=for_holder,
    )
    return await _admitted(services, caller, request, ask)


async def begin_first_turn(
    services: Services,
    caller: Caller,
    request: Request[Any, Any, Any],
    visitor: Visitor,
    text: str,
    *,
    page_url: str | None = None,
) -> ActiveRun:
    """Start a new thread for ``visitor`` with its first message: one request and one statement
    for what creating the thread and posting to it do.

    The same checks as both, in :func:`begin_turn`'s order: the message first, then 503 before any
    database or rate limiter work, then the limits on new threads and on messages, then the statement.
    """
    text = check_message(text, services.settings.max_message_chars)
    if page_url is not None:
        reject_nul(page_url, "page_url")
    ask = TurnRequest(
        tenant=caller.tenant.config,
        thread_id=new_id("thr"),
        text=text,
        visitor=visitor,
        binding=visitor.binding,
        page_url=page_url,
        operator=_operator(caller, visitor),
        new_thread=True,
    )
    return await _admitted(services, caller, request, ask)


def _operator(caller: Caller, visitor: Visitor) -> bool:
    # the shop's own servers and staff may read the provider's words in an error; visitors may not
    return caller.via_client_key or visitor.kind == "staff"


async def _admitted(services: Services, caller: Caller, request: Request[Any, Any, Any], ask: TurnRequest) -> ActiveRun:
    limiter = services.limiter
    try:
        with services.turns.admit():  # TurnRefused comes only from here
            ip = limiter.client_ip(request)  # once for the three or four checks
            tenant, visitor, via_key = caller.tenant.config, caller.visitor.binding, caller.via_client_key
            try:  # (``enforce_limits``, one call for the checks in a row)
                for action, scopes, count in _NEW_THREAD_CHECKS if ask.new_thread else _MESSAGE_CHECKS:
                    await limiter.check(
                        tenant=tenant,
                        visitor=visitor,
                        client_ip=ip,
                        action=action,
                        via_client_key=via_key,
                        scopes=scopes,
                        count=count,
                    )
            except RateLimited as exc:
                raise rate_limited_error(exc) from None
            run = await _open(services, caller, request, ask)
    except TurnRefused as exc:
        raise refused_error(exc) from None
    except ThreadHeld:  # kept for the person holding the thread: it counts as the turn would have
        await _count_tenant_wide(services, caller, request, ip)
        raise
    await _count_tenant_wide(services, caller, request, ip)
    return run


async def _count_tenant_wide(services: Services, caller: Caller, request: Request[Any, Any, Any], ip: str) -> None:
    with contextlib.suppress(ApiError):  # full since the check above (a race of a few turns): let it run
        await enforce_limits(services, caller, request, "message", scopes=TENANT_WIDE, client_ip=ip)


async def _open(services: Services, caller: Caller, request: Request[Any, Any, Any], ask: TurnRequest) -> ActiveRun:
    try:
        try:
            return await services.turns.open(ask)
        except ThreadMissing:  # a signed-in visitor's conversation started on another device?
            other = await other_device_binding(services, caller=caller, request=request, thread_id=ask.thread_id)
            if other is None:
                raise
            return await services.turns.open(dataclasses.replace(ask, binding=other))
    except ThreadMissing:
        raise ApiError(404, *_NOT_FOUND) from None
    except ThreadBusy:
        raise ApiError(409, *_BUSY) from None
