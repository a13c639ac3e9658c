"""One PostgreSQL server in a data folder, run from the binaries of the ``pgserver`` package:
create the folder, start, stop, and tell which processes serve it.

Sharing a server among our processes is :mod:`proxy.store.embedded`'s job; this module knows
nothing of who else uses the folder. The programs' output goes to the debug log.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shlex
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil

from proxy.errors import ProxyError

logger = logging.getLogger("proxy.store.embedded")  # one logger for the embedded database

PG_USER = "postgres"  # the database role; trust authentication on a socket only we can reach
SYSTEM_USER = "pgserver"  # the OS user the server runs as when we are root (postgres refuses root)
READY_WAIT = 30.0  # seconds a server found running may take to finish starting up
START_TIMEOUT = 60  # pg_ctl -t
STOP_TIMEOUT = 30  # pg_ctl -t for a fast shutdown; then the server is terminated
TERMINATE_WAIT = 10.0  # seconds a terminated server may take to exit before it is killed
LEFTOVER_WAIT = 5.0  # seconds a dead server's children get to exit after SIGTERM, then after SIGKILL
CONTROL_MARGIN = 10.0  # seconds pg_ctl itself may take beyond its -t before we give up on it
READY_POLL = 0.1  # seconds between looks at a starting server's postmaster.pid
RUN_TIMEOUT = 120.0  # seconds any other of its programs (initdb, ...) may run
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes; ".s.PGSQL.5432" is appended to the folder

MB = 1024 * 1024


def server_settings(memory: int | None = None) -> dict[str, str]:
    """The embedded server's settings, passed on its command line at each start (a server found
    running keeps those it was started with). Postgres's defaults assume a small shared machine;
    the embedded server holds the shop's documents and their HNSW index, which searches read at
    random, so:

    - ``shared_buffers`` an eighth of the memory (128 MB to 2 GB): a search's pages come from
      Postgres's own cache rather than a ``pread`` from the kernel's each (4-10 % less server CPU
      per search at 100,000 and 1,000,000 products than with the default 128 MB, and fewer slow
      searches). Untouched buffers cost no memory;
    - ``effective_cache_size`` half the memory and ``random_page_cost`` 1.1: the data is in memory
      or on an SSD, index reads are not four times a sequential read;
    - ``work_mem`` 16 MB: an exact comparison within a price filter sorts thousands of rows;
    - ``jit`` off: compiling a plan costs tens of milliseconds, more than a search takes (pgserver's
      build has no JIT provider; set for a build that has one).

    A production Postgres's settings are its operator's (bench/README-search.md says what helps)."""
    total = memory if memory is not None else psutil.virtual_memory().total
    shared = min(max(total // 8, 128 * MB), 2048 * MB)
    return {
        "shared_buffers": f"{shared // MB}MB",
        "effective_cache_size": f"{max(total // 2, shared) // MB}MB",
        "random_page_cost": "1.1",
        "work_mem": "16MB",
        "jit": "off",
    }


# None: Postgres's own defaults (the bench compares them); else the settings each start passes
SERVER_SETTINGS: dict[str, str] | None = server_settings()

_prepared_as_root = False


class EmbeddedPostgresError(ProxyError, RuntimeError):
    """The server could not be created, started or stopped (the message carries its output)."""

    code = "postgres_failed"


def server_processes(pgdata: Path) -> list[psutil.Process]:
    """The live ``postgres`` processes (the postmaster and its children) working in ``pgdata``."""
    pgdata = Path(pgdata).expanduser().resolve()
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
    pgdata = Path(pgdata).expanduser().resolve()
    lines = pid_file(pgdata)
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


def initdb(pgdata: Path) -> None:
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


def start(pgdata: Path) -> int:
    socket_dir = socket_folder(pgdata)
    settings = " ".join(f"-c {name}={shlex.quote(value)}" for name, value in (SERVER_SETTINGS or {}).items())
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
            *(["-o", settings] if settings else []),
            "-l",
            str(pgdata / "log"),
            "start",
            pgdata=pgdata,
            timeout=START_TIMEOUT + CONTROL_MARGIN,
        )
    except EmbeddedPostgresError as exc:
        raise EmbeddedPostgresError(f"{exc}\nthe end of its log:\n{log_tail(pgdata)}") from None
    pid = postmaster_pid(pgdata)
    if pid is None:
        raise EmbeddedPostgresError(
            f"the embedded postgres in {pgdata} stopped right after starting\n{log_tail(pgdata)}"
        )
    return pid


def stop(pgdata: Path, pid: int) -> None:
    """Fast shutdown (sessions are ended, nothing is lost); the signals if pg_ctl cannot."""
    fast = ("-D", str(pgdata), "-m", "fast", "-w", "-t", str(STOP_TIMEOUT), "stop")
    try:
        _run("pg_ctl", *fast, pgdata=pgdata, timeout=STOP_TIMEOUT + CONTROL_MARGIN)
        return
    except EmbeddedPostgresError:
        logger.warning("pg_ctl could not stop the embedded postgres; terminating it", extra={"data_dir": str(pgdata)})
    try:
        process = psutil.Process(pid)
        process.terminate()
        try:
            process.wait(TERMINATE_WAIT)
        except psutil.TimeoutExpired:
            process.kill()
    except psutil.NoSuchProcess:
        pass


def wait_ready(pgdata: Path) -> bool:
    """True once the live postmaster of ``pgdata`` accepts connections (within ``READY_WAIT``)."""
    deadline = time.monotonic() + READY_WAIT
    while time.monotonic() < deadline:
        lines = pid_file(pgdata)
        if postmaster_pid(pgdata) is None:
            return False
        if len(lines) >= 8 and lines[7].strip() == "ready":
            return True
        time.sleep(READY_POLL)  # a server still starting up (crash recovery) is worth the wait
    return False


def clear_leftovers(pgdata: Path) -> None:
    """What a killed postmaster leaves behind and a new one would trip over, when none runs.

    Its children keep its shared memory: they are ended. Its lock files (``postmaster.pid``, the
    socket's ``.lock``) name its pid, which Postgres takes for a live server as long as the dead
    process is not reaped yet (a zombie, common in containers): they are removed.
    """
    leftovers = server_processes(pgdata)
    for process in leftovers:
        process.terminate()
    _, alive = psutil.wait_procs(leftovers, timeout=LEFTOVER_WAIT)
    for process in alive:
        process.kill()
    psutil.wait_procs(alive, timeout=LEFTOVER_WAIT)
    lines = pid_file(pgdata)
    folders = {socket_folder(pgdata), *([Path(lines[4].strip())] if len(lines) > 4 and lines[4].strip() else [])}
    for folder in folders:
        for lock in folder.glob(".s.PGSQL.*.lock"):
            lock.unlink(missing_ok=True)
            lock.with_suffix("").unlink(missing_ok=True)  # the socket itself
    (pgdata / "postmaster.pid").unlink(missing_ok=True)


def uri(pgdata: Path) -> str:
    lines = pid_file(pgdata)
    port = lines[3].strip() if len(lines) > 3 and lines[3].strip() else "5432"
    folder = lines[4].strip() if len(lines) > 4 and lines[4].strip() else str(socket_folder(pgdata))
    return f"postgresql://{PG_USER}@/{PG_USER}?host={quote(folder, safe='/')}&port={port}"


def socket_folder(pgdata: Path) -> Path:
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


def _bin_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")  # not imported: its import warns about XDG_RUNTIME_DIR
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded database needs the pgserver package (or set DATABASE_URL)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _run(program: str, *args: str, pgdata: Path, timeout: float = RUN_TIMEOUT) -> None:
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


def pid_file(pgdata: Path) -> list[str]:
    try:
        return (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return []


def log_tail(pgdata: Path, lines: int = 20) -> str:
    try:
        return "\n".join((pgdata / "log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
