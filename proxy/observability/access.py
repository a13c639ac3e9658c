"""The access log: one line per request, written by our code when the request ends.

uvicorn's access line is turned off in ``serve``: it was written when a response started, through
``Logger.info`` (the record, the caller's frame, five %-arguments, the path quoted again), before
the response's first byte, and its path carried the query string, where a console search's words
are. Ours (logger ``proxy.access``) keeps its message, ``client - "METHOD /path HTTP/1.1" status``
without the query string, adds the duration and the request id, and is written once the response
has ended (a stream's line when the stream ends): one record made directly and handed to the
logger's handlers. ``PROXY_ACCESS_LOG=false`` turns it off.

Requests reach it from three places: :class:`proxy.api.middleware.FrontDoor` for every routed
request; the outer exception middleware for what the router refused (404, 405); the CORS
middleware for preflights.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from litestar.types import Send

LOGGER = "proxy.access"
_INFO = logging.INFO
_FORMAT = '%s - "%s %s HTTP/%s" %d'


def _client(scope: Any) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else ""


class AccessLog:
    """Writes the access line of a request (``write``), or nothing when off."""

    __slots__ = ("logger",)

    def __init__(self, enabled: bool = True) -> None:
        self.logger: logging.Logger | None = logging.getLogger(LOGGER) if enabled else None

    def write(self, scope: Any, status: int, seconds: float) -> None:
        """``scope``: the request's ASGI scope; ``seconds``: from the request to its response's end."""
        logger = self.logger
        if logger is None or not logger.isEnabledFor(_INFO):
            return
        raw: bytes | None = scope.get("raw_path")  # as sent (percent-encoded); some servers add the query
        path = raw.partition(b"?")[0].decode("latin-1") if raw else scope["path"]
        method: str = scope["method"]
        record = logging.LogRecord(
            LOGGER,
            _INFO,
            __file__,
            0,
            _FORMAT,
            (_client(scope), method, path, scope.get("http_version", "1.1"), status),
            None,
        )
        record.method = method
        record.path = path
        record.status = status
        record.duration_ms = round(seconds * 1000, 1)
        logger.handle(record)


class StatusNoted:
    """``send`` noting the response's status for the access line (500 until a response starts)."""

    __slots__ = ("send", "status")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 500

    def __call__(self, message: Any) -> Awaitable[None]:  # a Message; Any: read by its type
        if message["type"] == "http.response.start":
            self.status = message["status"]
        return self.send(message)


OFF = AccessLog(enabled=False)
