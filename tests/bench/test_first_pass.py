"""The first-pass benchmark still runs: every request of its bursts is answered 201 by the app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_first_pass_bench_runs_and_reports_each_phase() -> None:
    argv = [sys.executable, "-m", "bench.first_pass", "--size", "20", "--bursts", "2", "--rounds", "2"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]  # (it asserts that every answer was a 201)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(result["first_pass_us"]) == len(result["to_response_start_us"]) == 2
    assert all(value > 0 for value in result["first_pass_us"] + result["to_response_start_us"])
