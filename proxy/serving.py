"""How ``python -m proxy serve`` runs uvicorn: how many workers, their metrics, bounds on clients.

Workers: one per core the process may use (:func:`worker_count`), unless ``--workers`` or
``WEB_CONCURRENCY`` (uvicorn's and gunicorn's name for it) says otherwise. State lives in
Postgres, so any worker serves any thread. With several, their Prometheus metrics are written to
one folder (``PROMETHEUS_MULTIPROC_DIR``; a temporary one unless set, :func:`shared_metrics`) so
that one scrape adds up every worker.

uvicorn's httptools protocol buffers request headers without limit and waits for them without a
deadline: ten connections each sending an unfinished 16 MB header held 182 MB, and 300 half-sent
requests stayed open for minutes. :class:`BoundedHttpToolsProtocol` answers 431 once a request's
headers pass ``PROXY_MAX_HEADER_BYTES`` and closes a connection whose headers have not all arrived
``PROXY_HEADER_TIMEOUT`` seconds after it opened (or after its previous response). A reverse proxy
in front should bound them as well (see the production notes); this holds without one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from proxy.settings import Settings

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
WORKERS_ENV = "WEB_CONCURRENCY"
_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cores(cpu_max: Path = _CPU_MAX) -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup CPU quota (a
    container limited to 2 CPUs on a 64-core host gets 2)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota
    return max(1, cores)


def worker_count(flag: int | None, environ: Mapping[str, str] = os.environ) -> int:
    """``--workers`` if given, else ``WEB_CONCURRENCY`` if set, else one per usable core."""
    if flag is not None:
        count = flag
    elif environ.get(WORKERS_ENV, "").strip():
        try:
            count = int(environ[WORKERS_ENV])
        except ValueError:
            raise ValueError(f"{WORKERS_ENV} must be a whole number, not {environ[WORKERS_ENV]!r}") from None
    else:
        return usable_cores()
    if count < 1:
        raise ValueError(f"the number of workers must be at least 1, not {count}")
    return count


@contextmanager
def shared_metrics(workers: int) -> Iterator[str | None]:
    """Where the workers' metrics go while the block runs (None: one worker, in its memory).

    Several workers need ``PROMETHEUS_MULTIPROC_DIR`` set before they start (prometheus_client reads
    it on import): unless the operator set one, a temporary folder is made for this run and removed
    at the end, so a restart never adds up a previous run's counters.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if workers <= 1 or given:
        yield given or None
        return
    folder = tempfile.mkdtemp(prefix="proxy-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    logger.info("metrics of %d workers are added up in %s", workers, folder)
    try:
        yield folder
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


# A request's scope under this server carries, under this key, a function that registers a
# callback for the client going away (None clears it): a streamed response then needs no task of
# its own blocked in ``receive()`` just to notice (see proxy.api.streaming).
ON_DISCONNECT = "proxy.on_disconnect"


@functools.cache
def _configured_bounds() -> tuple[int, float]:
    """Read once per worker process (uvicorn's workers import this module afresh)."""
    settings = Settings()
    return settings.max_header_bytes, settings.header_timeout


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    # Our per-connection fields live in slots: uvicorn's protocol already sets about 28 attributes,
    # and four more in its ``__dict__`` pass CPython's limit for a class's shared, inline attribute
    # values, so every connection would carry a full dictionary of its own (≈ 1.5 KB).
    __slots__ = ("_gone", "_header_bytes", "_header_timer", "_max_bytes", "_timeout")
    _gone: Callable[[], None] | None  # the current response's callback for the client going away
    _header_bytes: int
    _header_timer: asyncio.TimerHandle | None
    _max_bytes: int
    _timeout: float

    max_header_bytes: int | None = None  # None: from the settings (PROXY_MAX_HEADER_BYTES)
    header_timeout: float | None = None  # None: from the settings (PROXY_HEADER_TIMEOUT)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        configured = _configured_bounds() if self.max_header_bytes is None or self.header_timeout is None else None
        self._max_bytes = self.max_header_bytes if self.max_header_bytes is not None else configured[0]  # type: ignore[index]
        self._timeout = self.header_timeout if self.header_timeout is not None else configured[1]  # type: ignore[index]
        self._header_bytes = 0
        self._header_timer = None
        self._gone = None
        self._await_headers()

    def _on_disconnect(self, callback: Callable[[], None] | None) -> None:
        self._gone = callback

    def _await_headers(self) -> None:
        self._header_bytes = 0
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self._timeout, self._headers_too_slow)

    def _headers_done(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._header_timer is None or self.transport.is_closing():
            return
        self._header_bytes += len(data)  # this request's headers are still incomplete
        if self._header_bytes > self._max_bytes:
            self._headers_done()
            self._refuse(b"431 Request Header Fields Too Large", b"The request headers are too large.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._await_headers()  # a keep-alive or pipelined request: the same bounds

    def on_headers_complete(self) -> None:
        self._headers_done()
        self._gone = None  # a previous response's, on a keep-alive connection
        self.scope[ON_DISCONNECT] = self._on_disconnect  # type: ignore[literal-required]
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # the next request on this connection must arrive, headers and all, in time too
        if not self.transport.is_closing() and not self.pipeline:
            self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_done()
        super().connection_lost(exc)
        gone, self._gone = self._gone, None
        if gone is not None:
            gone()

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self._refuse(b"408 Request Timeout", b"The request headers did not arrive in time.")

    def _refuse(self, status: bytes, message: bytes) -> None:
        self.transport.write(
            b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(message)).encode() + b"\r\nconnection: close\r\n\r\n" + message
        )
        self.transport.close()


def server_options(settings: Settings) -> dict[str, Any]:
    """Options for ``uvicorn.run`` bounding request headers in size and time.

    The protocol is named by its import path: uvicorn's worker processes import it themselves.
    """
    return {
        "http": "proxy.serving:BoundedHttpToolsProtocol",
        "h11_max_incomplete_event_size": settings.max_header_bytes,  # should h11 ever be chosen
        "timeout_keep_alive": 5,
    }
