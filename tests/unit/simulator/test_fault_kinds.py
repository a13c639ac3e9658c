from __future__ import annotations

import pytest

from proxy.simulator.faults import FaultQueue, http_fault, run_failure


def test_queue_is_first_in_first_out() -> None:
    queue = FaultQueue()
    queue.push(["500", "cut"])
    queue.push(["quota"])
    assert [queue.pop(), queue.pop(), queue.pop(), queue.pop()] == ["500", "cut", "quota", None]


def test_unknown_kinds_are_refused_whole() -> None:
    queue = FaultQueue()
    with pytest.raises(ValueError):
        queue.push(["500", "meltdown"])
    assert queue.pending() == []


def test_http_faults_and_run_failures() -> None:
    error = http_fault("quota")
    assert error is not None and (error.status, error.code, error.type) == (
        429,
        "insufficient_quota",
        "insufficient_quota",
    )
    assert http_fault("cut") is None and http_fault(None) is None
    assert run_failure("run_rate_limit").code == "rate_limit_exceeded"  # type: ignore[union-attr]
    assert run_failure("500") is None
