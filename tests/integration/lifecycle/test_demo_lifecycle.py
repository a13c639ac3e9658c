"""`python -m proxy demo` behaves like a product when it is stopped: SIGTERM and Ctrl+C stop its
embedded Postgres (no orphan postmaster), the terminal shows one shutdown message and none of the
database's own output, and a start after kill -9 comes up cleanly with the server left behind.

One data folder for the module: the first start loads the demo shop (about half a minute)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proxy.store import embedded
from tests.support.ports import free_port
from tests.support.processes import ProxyProcess, postgres_of, server_folder, wait_no_postgres

pytestmark = pytest.mark.integration

FIRST_START = 300.0  # seconds: initdb and loading the demo shop on a busy machine
DATABASE_OUTPUT = ("initdb", "pg_ctl", "The files belonging to this database", "server started", "pgserver")


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with server_folder("proxy-demo-life-") as folder:
        yield folder


@pytest.fixture
def pgdata(folder: Path) -> Path:
    pgdata = folder / "data" / "postgres"
    assert not postgres_of(pgdata), "a previous test left the server running"
    return pgdata


def start_demo(folder: Path, name: str) -> tuple[ProxyProcess, str]:
    port = free_port()
    env = {
        "PROXY_DATA_DIR": str(folder / "data"),
        "PROXY_LOG_LEVEL": "info",
        "DATABASE_URL": None,
        "OPENAI_API_KEY": None,  # the simulator answers
        "PROXY_SIMULATOR_URL": None,
        "PROXY_TENANTS_FILE": None,
        "DOMAINS": None,
    }
    process = ProxyProcess(["demo", "--port", str(port)], env=env, cwd=folder, name=name)
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_ready(url, timeout=FIRST_START)
    except BaseException:
        process.kill()
        raise
    return process, url


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_demo_stops_its_postgres_with_one_message(folder: Path, pgdata: Path, signum: signal.Signals) -> None:
    process, _ = start_demo(folder, f"demo-{signum.name}")
    try:
        assert postgres_of(pgdata), "the demo runs the embedded server"
        before = len(process.lines())
        process.signal(signum)
        assert process.wait() == 0
    finally:
        process.kill()
    wait_no_postgres(pgdata)
    said_at_the_end = process.lines()[before:]
    assert len(said_at_the_end) == 1 and "stopping" in said_at_the_end[0], said_at_the_end
    assert not [line for line in process.lines() if any(text in line for text in DATABASE_OUTPUT)]


def test_demo_after_kill_9_comes_up_cleanly(folder: Path, pgdata: Path) -> None:
    killed, _ = start_demo(folder, "demo-killed")
    try:
        postmaster = embedded.postmaster_pid(pgdata)
        killed.signal(signal.SIGKILL)
        killed.wait()
    finally:
        killed.kill()
    assert postmaster is not None and embedded.postmaster_pid(pgdata) == postmaster, "kill -9 leaves it running"

    after, url = start_demo(folder, "demo-after")
    try:
        said = [line for line in after.lines() if "embedded postgres" in line]
        assert len(said) == 1 and "adopted" in said[0], said
        assert httpx.get(f"{url}/demo", timeout=10).status_code == 200
        after.signal(signal.SIGTERM)
        assert after.wait() == 0
    finally:
        after.kill()
    wait_no_postgres(pgdata)
