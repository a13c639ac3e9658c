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

The protocol also holds less per connection and writes less often than uvicorn's own (a worker
holds thousands of quiet streams): the request cycle's and the flow control's ``asyncio.Event`` and
the pipeline's ``deque`` (≈ 0.76 KB each, most of it the ``deque`` every ``Event`` makes for its
waiters) become :class:`LazyEvent` and a list, made only when something waits or a request is
pipelined; and a response's first writes of one turn of the event loop (its headers and the first
part of its body, often the whole of a short response) go out in one system call
(:class:`_JoinedWrites`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from proxy.settings import Settings

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
WORKERS_ENV = "WEB_CONCURRENCY"
_CGROUP_ROOT = Path("/sys/fs/cgroup")
_OWN_CGROUPS = Path("/proc/self/cgroup")
# uvicorn's supervisor kills a worker that has not answered its ping for this long. A thread of the
# worker answers, so a busy event loop still answers; what is slow is a worker's start (imports) on
# a loaded machine, which uvicorn's 5 s default counts as hung and restarts, again and again.
WORKER_HEALTHCHECK_TIMEOUT = 30.0


def _quota_cores(folder: Path) -> float | None:
    """The CPU quota of one cgroup folder in cores (cgroup v2's ``cpu.max`` or v1's CFS quota and
    period), or None when it sets none."""
    try:
        quota, period = (folder / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((folder / "cpu.cfs_quota_us").read_text())
        period_us = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


def _cgroup_folders(root: Path, own_cgroups: Path) -> Iterator[Path]:
    """The folders whose CPU quota caps this process: the hierarchy's root (inside a container,
    the container's own cgroup), this process's cgroup under it and every one between (on a host:
    a systemd slice, a cgroup made for it), for cgroup v2 and v1's ``cpu`` controller alike."""
    yield root
    yield from (root / "cpu", root / "cpu,cpuacct")
    try:
        lines = own_cgroups.read_text().splitlines()
    except OSError:
        return
    for line in lines:
        hierarchy, controllers, path = [*line.split(":", 2), "", ""][:3]
        parts = [p for p in path.strip().split("/") if p]
        for depth in range(1, len(parts) + 1):  # its own cgroup and those above it (a slice)
            relative = Path(*parts[:depth])
            if hierarchy == "0":  # cgroup v2
                yield root / relative
            elif "cpu" in controllers.split(","):
                yield root / controllers / relative
                yield root / "cpu" / relative


def usable_cores(cgroup_root: Path = _CGROUP_ROOT, own_cgroups: Path = _OWN_CGROUPS) -> int:
    """The cores this process may run on: its CPU affinity, capped by the tightest cgroup CPU quota
    over it (a container limited to 2 CPUs on a 64-core host gets 2)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quotas = [q for q in map(_quota_cores, _cgroup_folders(cgroup_root, own_cgroups)) if q is not None]
    if quotas:
        cores = min(cores, math.ceil(min(quotas)))
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


class LazyEvent:
    """``asyncio.Event``'s behaviour for uvicorn's protocol, with the waiters' list made on the
    first wait and dropped after the last (an ``Event`` makes a ``deque`` for them up front)."""

    __slots__ = ("_value", "_waiters")

    def __init__(self, value: bool = False) -> None:
        self._value = value
        self._waiters: list[asyncio.Future[bool]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if not self._value:
            self._value = True
            for waiter in self._waiters or ():
                if not waiter.done():
                    waiter.set_result(True)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter = asyncio.get_running_loop().create_future()
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = []
        waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            waiters.remove(waiter)
            if not waiters and self._waiters is waiters:
                self._waiters = None


class _Pipeline(list[Any]):
    """uvicorn's queue of pipelined requests (``appendleft`` and ``pop``): an empty list is 56 bytes,
    an empty ``deque`` 760, and almost no client pipelines."""

    __slots__ = ()

    def appendleft(self, item: Any) -> None:
        self.insert(0, item)


class _JoinedWrites:
    """A request cycle's transport until its first writes are out: the first write waits for the
    end of the event loop's turn, and a second in the same turn goes out with it in one system call.

    A response's headers and the first part of its body are two ``send`` calls, which uvicorn writes
    one by one; a short response's are made in the same turn of the loop. Once the joined bytes (or
    the first write alone, at the end of the turn) are written, the cycle is given back the
    transport itself; the bytes and their order are the same.
    """

    __slots__ = ("_cycle", "_pending", "_transport")

    def __init__(self, cycle: Any, transport: asyncio.Transport) -> None:
        self._cycle = cycle
        self._transport = transport
        self._pending: bytes | None = None

    def write(self, data: bytes) -> None:
        pending = self._pending
        if pending is None and self._cycle is not None:
            self._pending = data
            asyncio.get_running_loop().call_soon(self._flush)
            return
        self._release()
        if pending is None:
            self._transport.write(data)
        else:
            self._pending = None
            self._transport.writelines((pending, data))

    def writelines(self, data: Iterable[bytes]) -> None:
        self.write(b"".join(data))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        self._release()
        if pending is not None and not self._transport.is_closing():
            self._transport.write(pending)

    def _release(self) -> None:
        cycle, self._cycle = self._cycle, None
        if cycle is not None and cycle.transport is self:
            cycle.transport = self._transport


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pipeline = _Pipeline()  # type: ignore[assignment]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow._is_writable_event = LazyEvent(True)  # type: ignore[assignment]
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
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not previous:  # a new request's cycle (not an upgrade): nothing waits on it yet
            cycle.message_event = LazyEvent()  # type: ignore[assignment]
            cycle.transport = _JoinedWrites(cycle, self.transport)  # type: ignore[assignment]

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
        "timeout_worker_healthcheck": WORKER_HEALTHCHECK_TIMEOUT,
    }
