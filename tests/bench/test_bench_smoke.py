"""The benchmark still runs: ``python -m bench --smoke`` (a few seconds, tiny load, no LiteLLM).

Nothing here is timed; the numbers are not checked, only that every chat and idle stream worked.
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
