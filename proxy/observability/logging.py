"""Structured logs: one JSON object per line, carrying request, thread and run ids.

Log calls pass ids as ``extra={...}``; message text, customer data and secrets are never logged
(the SDKs' debug logging, which prints request bodies, is kept at WARNING).

Every chat logs two lines (its request's access line, :mod:`proxy.observability.access`, and its
turn's), so a line's cost is part of a chat's fixed CPU: the formatter encodes with msgspec and
makes the timestamp's seconds once a second (13 -> 5 µs a line), and :func:`configure_logging`
turns off what no line of ours shows (the caller's file and line, found by walking the stack; the
thread's and process's names), as the logging HOWTO's "Optimization" section describes.
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import time
from collections.abc import Iterable
from typing import Any

import msgspec

from proxy.observability.batched import BatchedStreamHandler

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_QUIET = ("openai", "httpx", "httpx2", "httpcore", "httpcore2", "psycopg.pool", "aiosmtplib", "mail.log")
_ENCODER = msgspec.json.Encoder(enc_hook=str)  # what it cannot encode, as ``json.dumps(default=str)``


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "request_id"?, ...extras, "exc"?}`` on one line."""

    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int, str] = (-1, "")  # one tuple: threads log too

    def _stamp(self, created: float) -> str:
        second = int(created)
        cached = self._second
        if cached[0] != second:
            cached = self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return cached[1]

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": f"{self._stamp(record.created)}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if (rid := request_id.get()) is not None:
            entry["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and key[:1] != "_":
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        try:
            return _ENCODER.encode(entry).decode()
        except (TypeError, ValueError, OverflowError):  # e.g. keys msgspec does not take, a huge int
            return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "info", fmt: str = "json", *, batched: bool = False) -> None:
    """Our lines on stderr, ``fmt`` ``json`` or ``text``; ``batched``: a served worker's, where the
    lines logged on the event loop within 0.1 s are written together (:mod:`.batched`)."""
    handler = BatchedStreamHandler() if batched else logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # neither format shows where a call was made, nor the thread's or process's name or id
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


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
