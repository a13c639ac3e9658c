"""Structured logs: one JSON object per line, carrying request, thread and run ids.

Log calls pass ids as ``extra={...}``; message text, customer data and secrets are never logged
(the SDKs' debug logging, which prints request bodies, is kept at WARNING).
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import time
from collections.abc import Iterable
from typing import Any

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_QUIET = ("openai", "httpx", "httpx2", "httpcore", "httpcore2", "psycopg.pool", "aiosmtplib", "mail.log")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if (rid := request_id.get()) is not None:
            entry["request_id"] = rid
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def request_id_of(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The caller's ``X-Request-ID`` (printable ASCII, at most 64 characters), or a new one.

    :class:`proxy.api.middleware.FrontDoor` sets it in :data:`request_id` for the request's logs
    and sends it back in the response's headers."""
    for name, value in headers:
        if name == b"x-request-id":
            incoming = value.decode("latin-1")
            if incoming.isascii() and incoming.isprintable() and incoming:
                return incoming[:64]
            break
    # an id, not a secret: 16 hex digits without the os.urandom system call of secrets.token_hex
    # (random reseeds in a forked worker)
    return f"{random.getrandbits(64):016x}"
