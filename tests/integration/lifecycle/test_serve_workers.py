"""`serve --workers 2`: both workers serve, one scrape of `/metrics` adds up both, and the
temporary folder their metrics share is gone once the server stopped."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proxy.simulator import SimulatorServer
from tests.support.ports import free_port
from tests.support.processes import ProxyProcess, poll_until

pytestmark = pytest.mark.integration

TENANTS = """
[tenants.workers]
domains = ["workers.test"]
engine = "chat"
api_key_env = "WORKERS_KEY"
base_url = "{base_url}"
"""
TOKEN = "metrics-token-for-two-workers"
HEALTH = re.compile(r'^proxy_http_requests_total\{[^}]*path="/healthz"[^}]*\} ([0-9.e+]+)$', re.MULTILINE)


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer() as sim:
        yield sim


def test_two_workers_add_up_their_metrics_and_clean_up(pg_url: str, simulator: SimulatorServer, tmp_path: Path) -> None:
    (tmp_path / "tenants.toml").write_text(TENANTS.format(base_url=simulator.base_url))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    port = free_port()
    env = {
        "PROXY_TENANTS_FILE": str(tmp_path / "tenants.toml"),
        "PROXY_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": pg_url,
        "WORKERS_KEY": "sk-workers",
        "PROXY_METRICS_TOKEN": TOKEN,
        "PROXY_LOG_LEVEL": "info",
        "PROMETHEUS_MULTIPROC_DIR": None,
        "TMPDIR": str(scratch),  # where serve makes the workers' metrics folder
    }
    process = ProxyProcess(["serve", "--port", str(port), "--workers", "2"], env=env, cwd=tmp_path, name="two")
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_ready(url)
        poll_until(lambda: process.output.count("Application startup complete") == 2, timeout=60, what="2 workers")
        folders = list(scratch.glob("proxy-metrics-*"))
        assert len(folders) == 1, folders

        for _ in range(40):  # a new connection each: the workers take turns accepting them
            assert httpx.get(f"{url}/healthz").status_code == 200
        scraped = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200
        counts = [float(value) for value in HEALTH.findall(scraped.text)]
        # the readiness polls went to /readyz; these 40 are every /healthz either worker answered
        assert sum(counts) == 40, scraped.text[-3000:]
        pids = {path.stem.rsplit("_", 1)[-1] for path in folders[0].glob("*.db")}
        assert len(pids) == 2, pids  # both workers, and only they, write metrics there

        process.signal(signal.SIGTERM)
        assert process.wait() == 0, process.output[-3000:]
        assert not folders[0].exists()
    finally:
        process.kill()
