"""A request's one ``send`` wrapper, shared by our middlewares.

The CORS middleware, the outer exception middleware and the front door each need something of a
response's start (its headers to add to, its status, whether it started) and the front door the
time its body was last sent. Each had a wrapper of its own, so every message of every response
(each write of a stream) went through three Python calls before reaching the server. The first of
them that sees the request makes a :class:`Sent` and puts it in the ASGI scope; the others find it
there and set what they add. What goes out is unchanged: the route's headers, then the request id,
then the CORS headers (those of the same name the response has replaced as Litestar does).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

from litestar.types import Scope, Send

Header = tuple[bytes, bytes]
SENT = "proxy.sent"  # the request's Sent, in its ASGI scope


def set_header(headers: list[Header], header: Header) -> None:
    """``MutableScopeHeaders.__setitem__``: replace the first header of that name (and drop the
    others, as Litestar's index arithmetic does), or append."""
    name = header[0]
    indices = [index for index, (found, _) in enumerate(headers) if found.lower() == name]
    if indices:
        for index in indices[1:]:
            del headers[index]
        headers[indices[0]] = header
    else:
        headers.append(header)


class Sent:
    """``send`` adding the request id and the CORS headers to the start of the response, noting its
    status, whether it started, and how long after ``start`` its body was last sent."""

    __slots__ = ("cors", "cors_names", "duration", "request_id", "send", "start", "started", "status")

    def __init__(
        self, send: Send, cors: list[Header] | None = None, cors_names: frozenset[bytes] = frozenset()
    ) -> None:
        self.send = send
        self.cors = cors  # the CORS headers to add (None: none)
        self.cors_names = cors_names  # their names
        self.request_id: Header | None = None  # set by the front door
        self.start = 0.0
        self.started = False
        self.status = 200
        self.duration = 0.0

    @staticmethod
    def of(scope: Scope, send: Send) -> Sent:
        """``send`` if it is the request's :class:`Sent`, else a new one made the request's."""
        if send is scope.get(SENT):
            return send  # type: ignore[return-value]
        sent = scope[SENT] = Sent(send)  # type: ignore[literal-required]
        return sent

    def __call__(self, message: Any) -> Awaitable[None]:  # a Message; Any: read by its type
        kind = message["type"]
        if kind == "http.response.start":
            self.started = True
            self.status = message["status"]
            if self.request_id is not None or self.cors is not None:
                message["headers"] = self._headers(message.get("headers", ()))
        elif kind == "http.response.body":
            self.duration = time.perf_counter() - self.start
        return self.send(message)

    def _headers(self, given: Any) -> list[Header]:
        headers = [*given]
        if self.request_id is not None:
            headers.append(self.request_id)
        added = self.cors
        if added is not None:
            names = self.cors_names
            if any(name.lower() in names for name, _ in headers):
                for header in added:
                    set_header(headers, header)
            else:  # the usual case: none of them there yet, so each is appended in turn
                headers.extend(added)
        return headers
