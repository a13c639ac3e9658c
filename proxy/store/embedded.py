"""The embedded PostgreSQL of a data folder (pgserver's binaries), shared by the processes using it.

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
import hashlib
import importlib.util
import logging
import os
import shlex
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import psutil

logger = logging.getLogger(__name__)

PG_USER = "postgres"  # the database role; trust authentication on a socket only we can reach
SYSTEM_USER = "pgserver"  # the OS user the server runs as when we are root (postgres refuses root)
LOCK_WAIT = 120.0  # seconds to wait for another process's start or stop of the same folder
READY_WAIT = 30.0  # seconds an adopted server may take to finish starting up
START_TIMEOUT = 60  # pg_ctl -t
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes; ".s.PGSQL.5432" is appended to the folder


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be started (the message carries the end of its log)."""


@dataclass(slots=True)
class _Hold:
    uri: str
    users_fd: int
    count: int


_holds: dict[Path, _Hold] = {}
_guard = threading.Lock()
_exit_hook = False
_prepared_as_root = False


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


def server_processes(pgdata: Path) -> list[psutil.Process]:
    """The live ``postgres`` processes (the postmaster and its children) working in ``pgdata``."""
    pgdata = _normalise(pgdata)
    found = []
    for process in psutil.process_iter(["name"]):
        if process.info["name"] != "postgres":
            continue
        try:
            if Path(process.cwd()) == pgdata and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid of the live postmaster of ``pgdata``, from its ``postmaster.pid``; None if none runs."""
    pgdata = _normalise(pgdata)
    lines = _pid_file(pgdata)
    if not lines or not lines[0].strip().isdigit():
        return None
    pid = int(lines[0])
    try:
        process = psutil.Process(pid)
        if process.name() == "postgres" and Path(process.cwd()) == pgdata:
            return None if process.status() == psutil.STATUS_ZOMBIE else pid
    except psutil.Error:
        pass
    return None


# -- joining and leaving ---------------------------------------------------------------------------


def _join(pgdata: Path) -> _Hold:
    pgdata.mkdir(parents=True, exist_ok=True)
    with _control(pgdata):
        users_fd = os.open(_sibling(pgdata, "users"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            alone = _try_flock(users_fd, fcntl.LOCK_EX)
            fcntl.flock(users_fd, fcntl.LOCK_SH)  # others only ever take it shared: no wait
            _ensure_running(pgdata, alone=alone)
            return _Hold(uri=_uri(pgdata), users_fd=users_fd, count=0)
        except BaseException:
            os.close(users_fd)
            raise


def _leave(pgdata: Path, hold: _Hold) -> None:
    try:
        with _control(pgdata):
            os.close(hold.users_fd)
            probe = os.open(_sibling(pgdata, "users"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                if not _try_flock(probe, fcntl.LOCK_EX):
                    logger.debug("embedded postgres left running: other processes use it", extra=_where(pgdata))
                    return
                pid = postmaster_pid(pgdata)
                if pid is not None:
                    _stop(pgdata, pid)
                    logger.info("embedded postgres in %s stopped", pgdata, extra=_where(pgdata))
            finally:
                os.close(probe)
    except TimeoutError:
        logger.warning("embedded postgres not stopped: another process kept its folder locked", extra=_where(pgdata))


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
        _initdb(pgdata)
        created = True
    for stale in (pgdata / ".handle_pids.json",):  # pgserver's own pid list, never read again
        stale.unlink(missing_ok=True)
    pid = postmaster_pid(pgdata)
    if pid is not None and not alone:
        logger.info(
            "embedded postgres in %s joined: other processes of ours use it", pgdata, extra={**where, "pid": pid}
        )
        return
    if pid is not None and _wait_ready(pgdata):
        logger.warning(
            "embedded postgres in %s adopted (pid %d): a process that ended without stopping it left it running",
            pgdata,
            pid,
            extra=where,
        )
        return
    if pid is not None:
        _stop(pgdata, pid)
        reason = "restarted: the server left running there did not become ready"
    elif _pid_file(pgdata):
        reason = "restarted: its previous server ended without a clean stop"
    else:
        reason = "created and started" if created else "started"
    _clear_leftovers(pgdata)
    new_pid = _start(pgdata)
    log = logger.warning if reason.startswith("restarted") else logger.info
    log("embedded postgres in %s %s (pid %d)", pgdata, reason, new_pid, extra=where)


# -- the server ------------------------------------------------------------------------------------


def _initdb(pgdata: Path) -> None:
    _run(
        "initdb",
        "-D",
        str(pgdata),
        "--auth=trust",
        "--auth-local=trust",
        "--encoding=utf8",
        "-U",
        PG_USER,
        pgdata=pgdata,
    )


def _start(pgdata: Path) -> int:
    socket_dir = _socket_dir(pgdata)
    try:
        _run(
            "pg_ctl",
            "-D",
            str(pgdata),
            "-w",
            "-t",
            str(START_TIMEOUT),
            "-o",
            '-h ""',  # no TCP: the socket only
            "-o",
            f"-k {shlex.quote(str(socket_dir))}",
            "-l",
            str(pgdata / "log"),
            "start",
            pgdata=pgdata,
            timeout=START_TIMEOUT + 10,
        )
    except EmbeddedPostgresError as exc:
        raise EmbeddedPostgresError(f"{exc}\nthe end of its log:\n{_log_tail(pgdata)}") from None
    pid = postmaster_pid(pgdata)
    if pid is None:
        raise EmbeddedPostgresError(
            f"the embedded postgres in {pgdata} stopped right after starting\n{_log_tail(pgdata)}"
        )
    return pid


def _stop(pgdata: Path, pid: int) -> None:
    """Fast shutdown (sessions are ended, nothing is lost); the signals if pg_ctl cannot."""
    try:
        _run("pg_ctl", "-D", str(pgdata), "-m", "fast", "-w", "-t", "30", "stop", pgdata=pgdata, timeout=40)
        return
    except EmbeddedPostgresError:
        logger.warning("pg_ctl could not stop the embedded postgres; terminating it", extra=_where(pgdata))
    try:
        process = psutil.Process(pid)
        process.terminate()
        try:
            process.wait(10)
        except psutil.TimeoutExpired:
            process.kill()
    except psutil.NoSuchProcess:
        pass


def _wait_ready(pgdata: Path) -> bool:
    """True once the live postmaster of ``pgdata`` accepts connections (within ``READY_WAIT``)."""
    deadline = time.monotonic() + READY_WAIT
    while time.monotonic() < deadline:
        lines = _pid_file(pgdata)
        if postmaster_pid(pgdata) is None:
            return False
        if len(lines) >= 8 and lines[7].strip() == "ready":
            return True
        time.sleep(0.1)  # a server still starting up (crash recovery) is worth the wait
    return False


def _clear_leftovers(pgdata: Path) -> None:
    """Children of a killed postmaster keep its shared memory and block a new start: end them."""
    leftovers = server_processes(pgdata)
    for process in leftovers:
        process.terminate()
    _, alive = psutil.wait_procs(leftovers, timeout=5)
    for process in alive:
        process.kill()
    psutil.wait_procs(alive, timeout=5)
    (pgdata / "postmaster.pid").unlink(missing_ok=True)  # names a dead process (or someone else's)


def _uri(pgdata: Path) -> str:
    lines = _pid_file(pgdata)
    port = lines[3].strip() if len(lines) > 3 and lines[3].strip() else "5432"
    socket_dir = lines[4].strip() if len(lines) > 4 and lines[4].strip() else str(_socket_dir(pgdata))
    return f"postgresql://{PG_USER}@/{PG_USER}?host={quote(socket_dir, safe='/')}&port={port}"


def _socket_dir(pgdata: Path) -> Path:
    """The data folder itself when its socket path fits, else a short folder under the temp dir."""
    if len(str(pgdata / ".s.PGSQL.5432").encode()) <= SOCKET_PATH_MAX:
        return pgdata
    digest = hashlib.sha256(f"{pgdata}-{pgdata.stat().st_ino}".encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"proxy-pg-{digest}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if os.geteuid() == 0:
        import pwd

        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    return folder


# -- running pgserver's binaries -------------------------------------------------------------------


def _bin_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")  # not imported: its import warns about XDG_RUNTIME_DIR
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded database needs the pgserver package (or set DATABASE_URL)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _run(program: str, *args: str, pgdata: Path, timeout: float = 120) -> None:
    """Run one of the server's programs, as the server's user; its output goes to the debug log.

    Raises :class:`EmbeddedPostgresError` (with the output) when it fails or times out.
    """
    options: dict[str, Any] = {}
    if os.geteuid() == 0:
        _prepare_as_root(pgdata)
        options["user"] = SYSTEM_USER
    # files, not pipes: the postmaster started by pg_ctl would inherit a pipe and keep it open
    with tempfile.TemporaryFile("w+") as out:
        failure: str | None = None
        try:
            subprocess.run(
                [str(_bin_dir() / program), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=timeout,
                text=True,
                **options,
            )
        except subprocess.CalledProcessError as exc:
            failure = f"exit status {exc.returncode}"
        except subprocess.TimeoutExpired:
            failure = f"no answer within {timeout:.0f} s"
        out.seek(0)
        output = out.read().strip()
        logger.debug("%s: %s", program, output)
        if failure is not None:
            raise EmbeddedPostgresError(f"{program} {args[-1]} failed ({failure}) in {pgdata}:\n{output}")


def _prepare_as_root(pgdata: Path) -> None:
    """Postgres refuses to run as root: the server runs as ``pgserver``, which must reach its files."""
    global _prepared_as_root
    import pwd
    import stat

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pgserver's import warns when XDG_RUNTIME_DIR is unset
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    if not _prepared_as_root:
        ensure_user_exists(SYSTEM_USER)
        bin_dir = _bin_dir()
        ensure_prefix_permissions(bin_dir)
        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(bin_dir, read | execute)
        ensure_folder_permissions(bin_dir.parent / "lib", read)
        _prepared_as_root = True
    ensure_prefix_permissions(pgdata)
    entry = pwd.getpwnam(SYSTEM_USER)
    if pgdata.stat().st_uid != entry.pw_uid:
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)


# -- files and locks -------------------------------------------------------------------------------


def _normalise(pgdata: Path) -> Path:
    return Path(pgdata).expanduser().resolve()


def _sibling(pgdata: Path, suffix: str) -> Path:
    """Lock files live beside the data folder: initdb wants the folder itself empty."""
    return pgdata.with_name(f"{pgdata.name}.{suffix}")


def _where(pgdata: Path) -> dict[str, str]:
    return {"data_dir": str(pgdata)}


def _pid_file(pgdata: Path) -> list[str]:
    try:
        return (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return []


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
            time.sleep(0.05)  # another process is starting or stopping the server
        yield
    finally:
        os.close(fd)  # closing drops the lock


def _log_tail(pgdata: Path, lines: int = 20) -> str:
    try:
        return "\n".join((pgdata / "log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
