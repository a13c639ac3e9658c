"""Litestar's CORS middleware, answering the same for less memory and CPU per request.

Litestar's parses every request header into a ``Headers`` to read two of them, and adds its
headers to every response through ``MutableScopeHeaders``: seven look-ups, each decoding every
response header's name, and two sorted joins of the configuration, on each response (a quarter of
a bare route's CPU). Here the request's ``Origin`` and ``Cookie`` are found in the raw headers, the
response headers are made once from the configuration and added by the request's one ``send``
wrapper (:class:`proxy.api.sent.Sent`, whose call hands back the next ``send``'s awaitable); the
middleware's own call, too, hands back the next application's instead of awaiting it in a coroutine
held for the whole response (an open stream holds every coroutine of its chain). Preflights
(``OPTIONS`` with an ``Origin``) go through Litestar's own code. The headers set, their values,
order and the replacing of headers of the same name the response already has are Litestar's
(``tests/unit/api/test_lean_cors.py`` compares the two).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable

from litestar.config.cors import CORSConfig
from litestar.enums import HttpMethod, ScopeType
from litestar.middleware._internal.cors import CORSMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from proxy.api.sent import SENT, Header, Sent, set_header
from proxy.observability.access import OFF, AccessLog, StatusNoted

_ALLOW_ORIGIN = b"access-control-allow-origin"
_VARY = (b"vary", b"Origin")


def _encoded(name: str, value: str) -> Header:
    return name.lower().encode("latin-1"), value.encode("latin-1")


class LeanCORSMiddleware(CORSMiddleware):
    """See the module's docstring."""

    access: AccessLog = OFF  # the access lines of preflights

    def __init__(self, app: ASGIApp, config: CORSConfig) -> None:
        super().__init__(app=app, config=config)
        # what Litestar's sets, in its order, with a later header of the same name in the place of
        # an earlier one (the "*" origin of an allow-all configuration, then the caller's)
        simple = [_encoded(name, value) for name, value in config.simple_headers.items()]
        allow = [
            _encoded("Access-Control-Allow-Headers", ", ".join(sorted(set(config.allow_headers)))),
            _encoded("Access-Control-Allow-Methods", ", ".join(sorted(set(config.allow_methods)))),
        ]
        self._not_allowed: list[Header] = []
        self._allowed: list[Header] = []
        for header in [*simple, *allow]:
            set_header(self._not_allowed, header)
        for header in [*simple, (_ALLOW_ORIGIN, b""), _VARY, *allow]:
            set_header(self._allowed, header)
        self._origin_at = [name for name, _ in self._allowed].index(_ALLOW_ORIGIN)
        self._names = frozenset(name for name, _ in self._allowed)

    def _cors(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The next application's call, to be awaited by the caller: no coroutine of this one's."""
        if scope["type"] != ScopeType.HTTP:  # what Litestar's wrapper of ``__call__`` checks for it
            return self.app(scope, receive, send)
        origin: bytes | None = None
        has_cookie = False
        for name, value in scope["headers"]:
            name = name.lower()
            if name == b"origin":
                if origin is None:
                    origin = value
            elif name == b"cookie":
                has_cookie = True
        if not origin:
            return self.app(scope, receive, send)
        if scope["method"] == HttpMethod.OPTIONS:
            return self._preflight(scope, receive, send)
        config = self.config
        text = origin.decode("latin-1")
        if (config.is_allow_all_origins and has_cookie) or (
            not config.is_allow_all_origins and config.is_origin_allowed(origin=text)
        ):
            added = self._allowed.copy()
            added[self._origin_at] = (_ALLOW_ORIGIN, origin)
        else:
            added = self._not_allowed
        sent = scope[SENT] = Sent(send, added, self._names)  # type: ignore[literal-required]
        return self.app(scope, receive, sent)

    async def _preflight(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Litestar's answer, and its access line (no route's :class:`~proxy.api.middleware.FrontDoor`
        sees a preflight)."""
        start = time.perf_counter()
        status = StatusNoted(send)
        await super().__call__(scope, receive, status)
        self.access.write(scope, status.status, time.perf_counter() - start)


# ``AbstractMiddleware`` wraps each subclass's ``__call__`` in a coroutine of its own that checks the
# middleware's scopes and exclusions (for CORS: HTTP only, none excluded; checked in ``_cors``): an
# open stream holds every coroutine of its middleware chain while it is open, and this holds none
LeanCORSMiddleware.__call__ = LeanCORSMiddleware._cors  # type: ignore[method-assign,assignment]
