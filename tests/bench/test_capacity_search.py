"""The capacity search's choice of rates, with trials that say yes or no as a noisy target would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.capacity import search
from bench.report import capacity_scaling, capacity_table
from bench.run import Bench, parse_args


def target(capacity: float, flips: dict[float, int] | None = None) -> Callable[[float], bool]:
    """A target that holds every rate up to ``capacity``; ``flips``: trials at a rate answered wrong first."""
    wrong = dict(flips or {})

    def trial(rate: float) -> bool:
        if wrong.get(rate, 0) > 0:
            wrong[rate] -= 1
            return rate > capacity
        return rate <= capacity

    return trial


def test_a_quiet_target_is_bracketed_and_the_rate_found_is_tried_again() -> None:
    found = search(target(100), start=8, limit=512, halvings=3)
    assert found.max_rate == 96 and found.first_failing_rate == 104
    assert found.confirmed and not found.capped
    rates = [rate for rate, _ in found.trials]
    assert rates[:4] == [8, 16, 32, 64]
    assert rates.count(128) == 2  # a failure is never taken on one trial
    assert rates.count(96) == 2  # the rate found held twice


def test_one_slow_trial_does_not_end_the_doubling() -> None:
    found = search(target(100, flips={32: 1}), start=8, limit=512, halvings=3)
    assert found.max_rate == 96
    assert found.trials[2:4] == [(32, False), (32, True)]


def test_a_rate_held_once_by_luck_is_not_the_result() -> None:
    # 96 passes its first trial although the target holds only 70: the confirmation catches it
    found = search(target(70, flips={96: 1}), start=8, limit=512, halvings=3)
    assert found.confirmed
    assert 64 <= found.max_rate <= 70 < found.first_failing_rate <= 96  # type: ignore[operator]
    assert (96, True) in found.trials and found.trials.count((96, False)) == 2


def test_a_target_that_holds_nothing_has_no_capacity() -> None:
    found = search(target(1), start=8, limit=512, halvings=2)
    assert found.max_rate == 0 and found.first_failing_rate == 2
    assert all(not ok for _, ok in found.trials)


def test_a_target_that_holds_the_limit_is_reported_as_at_least_it() -> None:
    found = search(target(10_000), start=8, limit=64, halvings=3)
    assert found.capped and found.max_rate == 64 and found.confirmed
    assert [rate for rate, _ in found.trials] == [8, 16, 32, 64, 64]


def test_the_table_gives_the_rate_per_core_and_the_growth_with_workers() -> None:
    def found(kind: str, workers: int, rate: float) -> dict[str, object]:
        step = {"rate": rate, "ok": True, "added_p99_ms": 10.0, "errors": 0, "refused_chats": 0}
        return {
            "target": kind if workers == 1 else f"{kind}-{workers}w",
            "kind": kind,
            "workers": workers,
            "max_rate": rate,
            "first_failing_rate": rate * 1.25,
            "per_worker": rate / workers,
            "capped": False,
            "confirmed": workers == 1,
            "steps": [step],
        }

    capacity = [found("proxy", 1, 40), found("proxy", 2, 76), found("litellm", 1, 20), found("litellm", 2, 30)]
    capacity += [found("other", 1, 1), found("other", 2, 0)]  # two workers held no rate tried
    scaling = capacity_scaling(capacity)
    assert [(r["kind"], r["workers"], r["ratio"]) for r in scaling] == [
        ("proxy", 2, 1.9),
        ("litellm", 2, 1.5),
        ("other", 2, None),
    ]
    results = {
        "settings": {"cpu_per_worker": 0.5, "capacity": {"duration": 6, "bound_added_p99_ms": 50}},
        "capacity": capacity,
        "capacity_scaling": scaling,
    }
    table = capacity_table(results)
    assert "capped at 0.5 core" in table
    assert "| proxy-2w | 2 | 76* | 38.0 | 76.0 |" in table  # 2 workers of half a core: one core
    assert "| proxy | 2 | 1.90× (over 1) |" in table


class FloorBench(Bench):
    """The orchestrator with the simulator's runs replaced by given TTFT p99s, one per run."""

    def __init__(self, p99s: list[float]) -> None:
        super().__init__(parse_args(["--capacity"]), Path("."))
        self.p99s = p99s
        self.measured = 0

    def arrivals(self, target: str, rate: float) -> dict[str, Any]:
        p99 = self.p99s[self.measured]
        self.measured += 1
        return {"rate": rate, "load": {"start_to_first_ms": {"p99": p99}}}


def test_a_slow_floor_is_measured_again_and_the_lowest_kept() -> None:
    bench = FloorBench([330.0, 215.0, 201.0])  # the simulator answers after 200 ms
    assert bench.floor_at(16)["load"]["start_to_first_ms"]["p99"] == 215.0
    assert bench.measured == 2  # 215 is within half the bound of 200: no third run
    assert bench.floor_at(16)["load"]["start_to_first_ms"]["p99"] == 215.0 and bench.measured == 2


def test_a_floor_is_measured_at_most_three_times() -> None:
    bench = FloorBench([400.0, 390.0, 380.0, 201.0])
    assert bench.floor_at(64)["load"]["start_to_first_ms"]["p99"] == 380.0
    assert bench.measured == 3
