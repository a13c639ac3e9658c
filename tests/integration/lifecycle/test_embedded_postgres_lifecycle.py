"""Every command that starts the embedded Postgres stops it when it ends (SIGTERM, SIGINT, normal
exit, error), unless another process of ours still uses the data folder; a start after kill -9
adopts the server left behind. After each test the folder's postgres processes are exactly the
ones that should run: none.

Real processes throughout: `python -m proxy serve | migrate | tools call`, one data folder for the
module (created once; each test leaves it with no server running)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proxy.store import embedded
from tests.support.ports import free_port
from tests.support.processes import (
    ProxyProcess,
    kill_postgres,
    poll_until,
    postgres_of,
    proxy_process,
    server_folder,
    wait_no_postgres,
)

pytestmark = pytest.mark.integration

TENANTS = """
[tenants.life]
domains = ["life.test"]
engine = "chat"
api_key_env = "LIFE_KEY"
base_url = "http://127.0.0.1:9/v1"
tools = ["search_products"]
"""


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with server_folder("proxy-life-") as folder:
        (folder / "tenants.toml").write_text(TENANTS)
        yield folder


@pytest.fixture
def pgdata(folder: Path) -> Iterator[Path]:
    pgdata = folder / "data" / "postgres"
    assert not postgres_of(pgdata), "a previous test left the server running"
    yield pgdata
    kill_postgres(pgdata)  # only if the test failed: it asserts there is nothing left


@pytest.fixture
def env(folder: Path) -> dict[str, str]:
    return {
        "PROXY_TENANTS_FILE": str(folder / "tenants.toml"),
        "PROXY_DATA_DIR": str(folder / "data"),
        "DATABASE_URL": "",  # the embedded server
        "LIFE_KEY": "sk-life",
        "PROXY_LOG_LEVEL": "info",
    }


def serve(folder: Path, env: dict[str, str], name: str, *options: str) -> tuple[ProxyProcess, str]:
    port = free_port()
    process = ProxyProcess(["serve", "--port", str(port), *options], env=env, cwd=folder, name=name)
    return process, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("signum", "workers"),
    [(signal.SIGTERM, 1), (signal.SIGINT, 1), (signal.SIGTERM, 2)],
    ids=["sigterm", "sigint", "sigterm-two-workers"],
)
def test_serve_stops_its_postgres_on_a_signal(
    folder: Path, pgdata: Path, env: dict[str, str], signum: signal.Signals, workers: int
) -> None:
    process, url = serve(folder, env, f"serve-{signum.name}-{workers}", "--workers", str(workers))
    try:
        process.wait_ready(url)
        poll_until(
            lambda: process.output.count("Application startup complete") == workers,
            timeout=60,
            what="every worker to start",
        )
        assert postgres_of(pgdata), "serve runs the embedded server"
        process.signal(signum)
        assert process.wait() == 0
    finally:
        process.kill()
    wait_no_postgres(pgdata)
    assert process.output.count("embedded postgres in") == workers + 1  # each worker's start, one stop
    assert "stopped" in process.output


def test_a_command_run_to_its_end_stops_its_postgres(folder: Path, pgdata: Path, env: dict[str, str]) -> None:
    with proxy_process(["migrate"], env=env, cwd=folder, name="migrate") as process:
        assert process.wait() == 0
    assert "database is up to date" in process.output
    wait_no_postgres(pgdata)


def test_a_command_failing_half_way_stops_its_postgres(folder: Path, pgdata: Path, env: dict[str, str]) -> None:
    # the database is open when the command finds that the tenant does not exist
    args = ["tools", "call", "search_products", "--tenant", "nobody", "--args", json.dumps({"query": "tent"})]
    with proxy_process(args, env=env, cwd=folder, name="failing") as process:
        code = process.wait()
    assert code not in (0, None)
    assert "embedded postgres in" in process.output  # it had started the server
    assert "nobody" in process.output
    wait_no_postgres(pgdata)


def test_a_command_stopped_by_sigterm_stops_its_postgres(folder: Path, pgdata: Path, env: dict[str, str]) -> None:
    with proxy_process(["seed-demo", "--tenant", "life"], env=env, cwd=folder, name="seed") as process:
        process.wait_for_output("embedded postgres in")
        process.signal(signal.SIGTERM)
        assert process.wait() == 128 + signal.SIGTERM
    wait_no_postgres(pgdata)


def test_two_serve_share_one_folder_and_the_last_one_out_stops_it(
    folder: Path, pgdata: Path, env: dict[str, str]
) -> None:
    first, first_url = serve(folder, env, "serve-first")
    second, second_url = serve(folder, env, "serve-second")
    try:
        first.wait_ready(first_url)
        second.wait_ready(second_url)
        postmaster = embedded.postmaster_pid(pgdata)
        assert postmaster is not None
        assert "joined" in second.output or "joined" in first.output, "one server for both"

        first.signal(signal.SIGTERM)
        assert first.wait() == 0
        # the survivor's server is still there, the same one, and serves
        assert embedded.postmaster_pid(pgdata) == postmaster
        assert httpx.get(f"{second_url}/readyz", timeout=5).status_code == 200

        second.signal(signal.SIGTERM)
        assert second.wait() == 0
    finally:
        first.kill()
        second.kill()
    wait_no_postgres(pgdata)


def test_a_start_after_kill_9_adopts_the_server_left_behind(folder: Path, pgdata: Path, env: dict[str, str]) -> None:
    killed, killed_url = serve(folder, env, "serve-killed")
    try:
        killed.wait_ready(killed_url)
        postmaster = embedded.postmaster_pid(pgdata)
        killed.signal(signal.SIGKILL)
        killed.wait()
    finally:
        killed.kill()
    assert postmaster is not None and embedded.postmaster_pid(pgdata) == postmaster, "kill -9 leaves it running"

    after, after_url = serve(folder, env, "serve-after")
    try:
        after.wait_ready(after_url)
        lines = [line for line in after.output.splitlines() if "embedded postgres in" in line]
        assert len(lines) == 1 and "adopted" in lines[0], lines
        assert embedded.postmaster_pid(pgdata) == postmaster, "the same server, adopted"
        after.signal(signal.SIGTERM)
        assert after.wait() == 0
    finally:
        after.kill()
    wait_no_postgres(pgdata)


def test_a_start_after_the_server_was_killed_too_restarts_it(folder: Path, pgdata: Path, env: dict[str, str]) -> None:
    killed, killed_url = serve(folder, env, "serve-killed-with-its-server")
    try:
        killed.wait_ready(killed_url)
        postmaster = embedded.postmaster_pid(pgdata)
        assert postmaster is not None
        killed.signal(signal.SIGKILL)
        killed.wait()
    finally:
        killed.kill()
    os.kill(postmaster, signal.SIGKILL)  # the machine went down, say: postmaster.pid stays behind
    poll_until(lambda: embedded.postmaster_pid(pgdata) is None, timeout=30, what="the postmaster to die")
    assert (pgdata / "postmaster.pid").exists()

    with proxy_process(["migrate"], env=env, cwd=folder, name="migrate-after-crash") as process:
        assert process.wait() == 0, process.output
    started = [line for line in process.output.splitlines() if "embedded postgres in" in line and "stopped" not in line]
    assert len(started) == 1 and "restarted" in started[0], started
    wait_no_postgres(pgdata)
