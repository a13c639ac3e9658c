"""The benchmark still runs: ``python -m bench --smoke`` (a few seconds, tiny load, no LiteLLM).

Nothing here is timed; the numbers are not checked, only that every chat, burst, capacity step and
idle stream worked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_run_produces_results_without_errors(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    argv = [sys.executable, "-m", "bench", "--smoke", "--out", str(out)]
    if os.environ.get("TEST_DATABASE_URL"):
        argv += ["--database-url", os.environ["TEST_DATABASE_URL"]]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| chats | target |" in done.stdout  # the table was printed

    results = json.loads(out.read_text())
    targets = {run["target"] for run in results["runs"]}
    assert {"simulator", "proxy"} <= targets
    for run in results["runs"]:
        load = run["load"]
        assert load["errors"] == 0, (run["target"], load["error_kinds"])
        assert load["ok"] > 0, run["target"]
        assert load["deltas_per_chat"] >= results["settings"]["tokens"]
        assert run["usage"]["cpu_s"]["target"] >= 0
    idle = results["idle"]
    assert idle["held"] == idle["count"] > 0, idle
    assert idle["errors"] == 0, idle["error_kinds"]

    bursts = results["bursts"]
    assert {b["target"] for b in bursts} == {"simulator", "proxy"}
    for burst in bursts:
        load = burst["load"]
        assert load["errors"] == 0, (burst["target"], load["error_kinds"])
        assert load["ok"] == burst["count"] * results["settings"]["burst_rounds"]
        assert load["start_to_first_ms"]["p99"] is not None
    assert "chats at once" in done.stdout

    [capacity] = results["capacity"]
    assert capacity["target"] == "proxy" and capacity["workers"] == 1
    assert capacity["steps"], capacity
    for step in capacity["steps"]:
        assert step["errors"] == 0, step["error_kinds"]
        assert step["floor_p99_ms"] is not None or step["chats"] == 0
    assert "new chats/s" in done.stdout
