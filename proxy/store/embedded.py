"""The embedded PostgreSQL of a data folder (:mod:`proxy.store.pg_server`), shared by the processes
of ours that use it.

pgserver's own handle keeps a list of pids in the folder and stops the server at interpreter exit
when its pid is the last one listed. A process ended by a signal never leaves that list, so after
one SIGTERM or kill -9 nobody stops the server again. Instead, here:

- every process using the folder holds a shared ``flock`` on ``<folder>.users`` for as long as it
  does; the kernel drops it however the process ends, so the holders are exactly the live users;
- starting and stopping happen under an exclusive ``flock`` on ``<folder>.lock``, never interleaved;
- letting go (:func:`release`, or at interpreter exit) stops the server when no other process
  holds the users lock;
- a start that finds a server nobody holds (its owner was killed) adopts it; one whose postmaster
  died is started again. Each start says in one log line which of these happened.

Within one process the holds are counted, so nested users (a CLI command inside ``demo``, the app's
lifespan after the demo's seeding) share one server without stopping it in between.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio

from proxy.store import pg_server
from proxy.store.pg_server import EmbeddedPostgresError, postmaster_pid, server_processes

__all__ = (
    "EmbeddedPostgresError",
    "acquire",
    "postmaster_pid",
    "release",
    "running",
    "running_async",
    "server_processes",
)

logger = logging.getLogger(__name__)

LOCK_WAIT = 120.0  # seconds to wait for another process's start or stop of the same folder
LOCK_POLL = 0.05  # seconds between tries of that lock


@dataclass(slots=True)
class _Hold:
    uri: str
    users_fd: int
    count: int


_holds: dict[Path, _Hold] = {}
_guard = threading.Lock()
_exit_hook = False


# -- the public surface ----------------------------------------------------------------------------


def acquire(pgdata: Path) -> str:
    """Start (or join, or adopt) the server of ``pgdata`` and return its connection URI.

    Each call must be matched by :func:`release`; what is still held at interpreter exit is let
    go then.
    """
    global _exit_hook
    pgdata = _normalise(pgdata)
    with _guard:
        if not _exit_hook:
            atexit.register(_release_all)
            _exit_hook = True
        hold = _holds.get(pgdata)
        if hold is None:
            hold = _holds[pgdata] = _join(pgdata)
        hold.count += 1
        return hold.uri


def release(pgdata: Path) -> None:
    """Let go of one hold; the last hold of the last process stops the server."""
    pgdata = _normalise(pgdata)
    with _guard:
        hold = _holds.get(pgdata)
        if hold is None:
            return
        hold.count -= 1
        if hold.count > 0:
            return
        del _holds[pgdata]
        _leave(pgdata, hold)


@contextmanager
def running(pgdata: Path) -> Iterator[str]:
    """The server's URI while the block runs."""
    uri = acquire(pgdata)
    try:
        yield uri
    finally:
        release(pgdata)


@asynccontextmanager
async def running_async(pgdata: Path) -> AsyncIterator[str]:
    """:func:`running` for async code: starting and stopping run in a worker thread, and the
    release happens even when the surrounding task is being cancelled (Ctrl+C, SIGTERM)."""
    uri = await anyio.to_thread.run_sync(acquire, pgdata)
    try:
        yield uri
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(release, pgdata)


# -- joining and leaving ---------------------------------------------------------------------------


def _join(pgdata: Path) -> _Hold:
    pgdata.mkdir(parents=True, exist_ok=True)
    with _control(pgdata):
        users_fd = os.open(_sibling(pgdata, "users"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            alone = _try_flock(users_fd, fcntl.LOCK_EX)
            fcntl.flock(users_fd, fcntl.LOCK_SH)  # others only ever take it shared: no wait
            _ensure_running(pgdata, alone=alone)
            return _Hold(uri=pg_server.uri(pgdata), users_fd=users_fd, count=0)
        except BaseException:
            os.close(users_fd)
            raise


def _leave(pgdata: Path, hold: _Hold) -> None:
    try:
        with _control(pgdata):
            os.close(hold.users_fd)
            hold.users_fd = -1
            probe = os.open(_sibling(pgdata, "users"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                if not _try_flock(probe, fcntl.LOCK_EX):
                    logger.debug("embedded postgres left running: other processes use it", extra=_where(pgdata))
                    return
                pid = pg_server.postmaster_pid(pgdata)
                if pid is not None:
                    pg_server.stop(pgdata, pid)
                    logger.info("embedded postgres in %s stopped", pgdata, extra=_where(pgdata))
            finally:
                os.close(probe)
    except TimeoutError:
        logger.warning("embedded postgres not stopped: another process kept its folder locked", extra=_where(pgdata))
    finally:
        if hold.users_fd >= 0:
            os.close(hold.users_fd)  # this process no longer uses the server, whatever happened


def _release_all() -> None:
    with _guard:
        held = list(_holds.items())
        _holds.clear()
    for pgdata, hold in held:
        _leave(pgdata, hold)


def _ensure_running(pgdata: Path, *, alone: bool) -> None:
    """Under the control lock: initialise, start, join or adopt; log which, in one line."""
    where = _where(pgdata)
    created = False
    if not (pgdata / "PG_VERSION").exists():
        pg_server.initdb(pgdata)
        created = True
    (pgdata / ".handle_pids.json").unlink(missing_ok=True)  # pgserver's own list of pids, unused here
    pid = pg_server.postmaster_pid(pgdata)
    if pid is not None and not alone:
        logger.info(
            "embedded postgres in %s joined: other processes of ours use it", pgdata, extra={**where, "pid": pid}
        )
        return
    if pid is not None and pg_server.wait_ready(pgdata):
        logger.warning(
            "embedded postgres in %s adopted (pid %d): a process that ended without stopping it left it running",
            pgdata,
            pid,
            extra=where,
        )
        return
    if pid is not None:
        pg_server.stop(pgdata, pid)
        reason = "restarted: the server left running there did not become ready"
    elif pg_server.pid_file(pgdata):
        reason = "restarted: its previous server ended without a clean stop"
    else:
        reason = "created and started" if created else "started"
    pg_server.clear_leftovers(pgdata)
    new_pid = pg_server.start(pgdata)
    log = logger.warning if reason.startswith("restarted") else logger.info
    log("embedded postgres in %s %s (pid %d)", pgdata, reason, new_pid, extra=where)


# -- files and locks -------------------------------------------------------------------------------


def _normalise(pgdata: Path) -> Path:
    return Path(pgdata).expanduser().resolve()


def _sibling(pgdata: Path, suffix: str) -> Path:
    """Lock files live beside the data folder: initdb wants the folder itself empty."""
    return pgdata.with_name(f"{pgdata.name}.{suffix}")


def _where(pgdata: Path) -> dict[str, str]:
    return {"data_dir": str(pgdata)}


def _try_flock(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise


@contextmanager
def _control(pgdata: Path) -> Iterator[None]:
    """Exclusive right to start or stop the folder's server; TimeoutError after ``LOCK_WAIT``."""
    fd = os.open(_sibling(pgdata, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while not _try_flock(fd, fcntl.LOCK_EX):
            if time.monotonic() > deadline:
                raise TimeoutError(f"another process kept {pgdata} locked for {LOCK_WAIT:.0f} s")
            time.sleep(LOCK_POLL)  # another process is starting or stopping the server
        yield
    finally:
        os.close(fd)  # closing drops the lock
