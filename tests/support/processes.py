"""Real `python -m proxy ...` processes for tests: start, wait for what they print or serve, stop.

Every wait polls a condition (a log line, an HTTP answer, a process's end) until a deadline.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx
import psutil

from proxy.store import embedded
from tests.support.ports import free_port

T = TypeVar("T")

POLL = 0.05  # seconds between two looks at another process's state

QUIET_ENV = {
    "PROXY_LOG_FORMAT": "text",
    "PROXY_MAX_LOOP_LAG": "0",  # a busy test machine is not an overloaded worker
    "PROXY_MAX_CPU_BUSY": "0",
    # one worker unless a test asks for more: tests that kill `serve` mean one process (a killed
    # supervisor leaves its workers running), and the shared test machine has few cores
    "WEB_CONCURRENCY": "1",
}


def poll_until(probe: Callable[[], T], *, timeout: float, what: str) -> T:
    """The first truthy result of ``probe``; TimeoutError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL)  # polling another process: there is nothing to await


class ProxyProcess:
    """One `python -m proxy` command, its output in a file."""

    def __init__(self, args: list[str], *, env: Mapping[str, str | None], cwd: Path, name: str) -> None:
        """``env`` is laid over this process's environment; a None value removes the variable."""
        self.log_path = cwd / f"{name}.log"
        merged = {**os.environ, **QUIET_ENV, **env}
        with self.log_path.open("w") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "proxy", *args],
                env={key: value for key, value in merged.items() if value is not None},
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lines(self) -> list[str]:
        return self.output.splitlines()

    def wait_for_output(self, text: str, *, timeout: float = 60) -> None:
        def seen() -> bool:
            if text in self.output:
                return True
            if self.popen.poll() is not None:
                raise RuntimeError(f"exited with {self.popen.returncode} before printing {text!r}:\n{self.output}")
            return False

        poll_until(seen, timeout=timeout, what=f"{text!r} in the output")

    def wait_ready(self, url: str, *, timeout: float = 90) -> None:
        """Until ``url/readyz`` answers 200 (the app started, its database open)."""

        def ready() -> bool:
            if self.popen.poll() is not None:
                raise RuntimeError(f"exited with {self.popen.returncode} before it was ready:\n{self.output}")
            try:
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        poll_until(ready, timeout=timeout, what=f"{url} to be ready")

    def signal(self, signum: signal.Signals) -> None:
        os.kill(self.pid, signum)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"still running after {timeout:.0f} s:\n{self.output}") from None

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


@contextmanager
def proxy_process(args: list[str], *, env: Mapping[str, str | None], cwd: Path, name: str) -> Iterator[ProxyProcess]:
    """The process while the block runs; killed if the block leaves it running."""
    process = ProxyProcess(args, env=env, cwd=cwd, name=name)
    try:
        yield process
    finally:
        process.kill()


@contextmanager
def server_folder(prefix: str) -> Iterator[Path]:
    """A folder for a server's data, removed afterwards with any server left in ``data/postgres``.

    Not under pytest's tmp_path: every pytest session on the machine resets that tree to mode 0700,
    which locks out the ``pgserver`` user a root-run Postgres works as.
    """
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        kill_postgres(folder / "data" / "postgres")
        shutil.rmtree(folder, ignore_errors=True)


def postgres_of(pgdata: Path) -> list[psutil.Process]:
    """The postgres processes (postmaster and children) working in ``pgdata``."""
    return embedded.server_processes(pgdata)


def wait_no_postgres(pgdata: Path, *, timeout: float = 30) -> None:
    """Until no postgres process works in ``pgdata`` (a stopped server's children exit last)."""
    poll_until(lambda: not postgres_of(pgdata), timeout=timeout, what=f"the postgres of {pgdata} to end")


def kill_postgres(pgdata: Path) -> None:
    """Test clean-up: end whatever server a failed test left in ``pgdata``."""
    leftovers = postgres_of(pgdata)
    for process in leftovers:
        process.kill()
    psutil.wait_procs(leftovers, timeout=10)


@contextmanager
def serve_instances(env: Mapping[str, str], folder: Path, count: int = 2) -> Iterator[list[str]]:
    """``count`` `python -m proxy serve` processes with one environment (sharing its Postgres); yields
    their base URLs once each answers ``/readyz``, and stops them afterwards."""
    ports = [free_port() for _ in range(count)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "proxy", "serve", "--port", str(port), "--workers", "1"],
            env=dict(env),
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=(folder / f"serve-{port}.log").open("w"),
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, process in zip(urls, processes, strict=True):
            poll_until(lambda url=url, process=process: _ready(url, process), timeout=60, what=f"{url} ready")
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)


def _ready(url: str, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"`serve` exited with {process.returncode}")
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
