"""Every route's one middleware: the request id, the request metrics, the database wait.

These were three middlewares (a request-id closure, Litestar's Prometheus middleware, a
``with pool_wait_limit(...)`` block), each a coroutine, and two of them a ``send`` wrapper, held
for as long as a response is open: thousands of quiet streams each held all of them. Here one
coroutine frame is held per request, and ``send`` is the request's one wrapper
(:class:`proxy.api.sent.Sent`, shared with the CORS and the outer exception middlewares), whose
call hands back the next ``send``'s awaitable instead of awaiting it in a coroutine of its own.

Litestar puts an exception middleware on either side of it (its own, outside the router; and one
between the route's middlewares and the handler, so that an error's response passes through them).
The inner one's work is done in this middleware's coroutine, and the outer one is
:class:`LeanExceptionHandlerMiddleware`, whose ``send`` wrapper is such an object too (Litestar's
makes a closure per request and a coroutine per message); what they answer is Litestar's.

What a request gets is unchanged: ``X-Request-ID`` taken from the caller (or made) and sent back,
set in :data:`proxy.observability.logging.request_id` for its logs; the series of
:class:`proxy.observability.metrics.RequestSeries` (``/metrics`` left out); waits for a pooled
connection bounded by ``PROXY_DB_REQUEST_TIMEOUT`` (:mod:`proxy.api.database`); the request's
access line when it ends (:mod:`proxy.observability.access`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar.enums import ScopeType
from litestar.exceptions import LitestarException
from litestar.middleware._internal.exceptions.middleware import ExceptionHandlerMiddleware
from litestar.plugins.prometheus import PrometheusConfig
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from proxy.api.sent import Sent
from proxy.observability.access import OFF, AccessLog, StatusNoted
from proxy.observability.logging import request_id, request_id_of
from proxy.observability.metrics import RequestSeries
from proxy.store.db import request_wait_limit

_REQUEST_ID = b"x-request-id"


class _Started(StatusNoted):
    """``send`` noting in the scope's state that the response has started, and its status."""

    __slots__ = ("state",)

    def __init__(self, send: Send, state: ScopeState) -> None:
        super().__init__(send)
        self.state = state

    def __call__(self, message: Any) -> Awaitable[None]:  # a Message; Any: read by its type
        if message["type"] == "http.response.start":
            self.state.response_started = True
            self.status = message["status"]
        return self.send(message)


class LeanExceptionHandlerMiddleware(ExceptionHandlerMiddleware):
    """Litestar's exception middleware (the same handling: ``ExceptionHandlerMiddleware.__call__``
    with the request's :class:`~proxy.api.sent.Sent` in the place of its ``send`` wrapper, a closure).

    The outer one (``access`` set) writes the access line of a request the router refused (no
    route: :class:`FrontDoor` never saw it)."""

    access: AccessLog = OFF

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._other(scope, receive, send)
            return
        sent = Sent.of(scope, send)  # the CORS middleware's, or the request's first
        start = time.perf_counter()
        try:
            await self.app(scope, receive, sent)
        except Exception as e:
            try:
                await self.answer(scope, receive, sent, e, started=sent.started)
            finally:
                if "route_handler" not in scope:
                    self.access.write(scope, sent.status if sent.started else 500, time.perf_counter() - start)

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A websocket's (or another non-HTTP scope's): Litestar's handling, without an access line."""
        scope_state = ScopeState.from_scope(scope)
        sent = _Started(send, scope_state)
        try:
            await self.app(scope, receive, sent)
        except Exception as e:
            await self.answer(scope, receive, sent, e, started=scope_state.response_started)

    async def answer(self, scope: Scope, receive: Receive, send: Send, exc: Exception, *, started: bool) -> None:
        """What Litestar's does with an exception from the application (``started``: the response
        had started, which it notes in the scope's state)."""
        if started:
            raise LitestarException("Exception caught after response started") from exc
        litestar_app = scope["litestar_app"]
        if litestar_app.logging_config and (logger := litestar_app.logger):
            self.handle_exception_logging(logger=logger, logging_config=litestar_app.logging_config, scope=scope)
        for hook in litestar_app.after_exception:
            await hook(exc, scope)
        if litestar_app.pdb_on_exception:
            litestar_app.debugger_module.post_mortem()
        if scope["type"] == ScopeType.HTTP:
            await self.handle_request_exception(
                litestar_app=litestar_app, scope=scope, receive=receive, send=send, exc=exc
            )
        else:
            await self.handle_websocket_exception(send=send, exc=exc)


def lean_exceptions(app: ASGIApp) -> ASGIApp:
    """``app``, Litestar's exception middleware (as it builds it: no arguments but the next
    application) replaced by ours; anything else as it is."""
    if type(app) is ExceptionHandlerMiddleware and app.exception_handlers is None and app.debug is None:
        return LeanExceptionHandlerMiddleware(app=app.app, debug=None)
    return app


class FrontDoor:
    """The middleware (see the module's docstring); Litestar wraps each route with it."""

    __slots__ = ("access", "app", "errors", "pool_wait", "series")

    def __init__(self, app: ASGIApp, series: RequestSeries, pool_wait: float, access: AccessLog = OFF) -> None:
        self.errors: LeanExceptionHandlerMiddleware | None = None
        if type(app) is ExceptionHandlerMiddleware and app.exception_handlers is None and app.debug is None:
            # Litestar's, between this and the route's handler: its work is done in this coroutine
            # (one coroutine and one ``send`` wrapper fewer held by an open stream)
            self.errors = LeanExceptionHandlerMiddleware(app=app.app, debug=None)
            app = app.app
        self.app = app
        self.series = series
        self.pool_wait = pool_wait
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await (self.errors or self.app)(scope, receive, send)
            return
        rid = request_id_of(scope["headers"])
        rid_token = request_id.set(rid)
        wait_token = request_wait_limit.set(self.pool_wait)
        sent = Sent.of(scope, send)  # the outer middlewares' (ProxyApp's), or the request's first
        sent.request_id = (_REQUEST_ID, rid.encode())
        sent.start = time.perf_counter()
        series = None if self.series.skips(scope) else self.series
        method: str = scope["method"]
        path: str = scope.get("path_template", "")
        try:
            if series is not None:
                series.in_progress(method, path).inc()
            try:
                await self.app(scope, receive, sent)
            except Exception as exc:
                if self.errors is None:
                    raise
                await self.errors.answer(scope, receive, sent, exc, started=sent.started)
            finally:
                if series is not None:
                    series.in_progress(method, path).dec()
                    series.ended(method, path, sent.status, sent.duration)
                self.access.write(scope, sent.status if sent.started else 500, time.perf_counter() - sent.start)
        finally:
            request_wait_limit.reset(wait_token)
            request_id.reset(rid_token)


def front_door(metrics: PrometheusConfig, pool_wait: float, access: AccessLog = OFF) -> Callable[..., Any]:
    """The middleware for Litestar's ``middleware=[...]``: one set of series for every route, and
    the access line of each request (none with :data:`~proxy.observability.access.OFF`)."""
    series = RequestSeries(metrics)

    def wrap(app: ASGIApp) -> ASGIApp:
        return FrontDoor(app, series, pool_wait, access)

    return wrap
