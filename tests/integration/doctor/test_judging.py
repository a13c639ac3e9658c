"""The doctor's streaming heuristics on made-up arrival times (see proxy.doctor.stream)."""

from __future__ import annotations

from proxy.doctor.checks import default_origin, site_origin
from proxy.doctor.fixes import FIX_FOR_CHECK, FIXES, fix_for
from proxy.doctor.stream import Arrival, StreamTrace, bursts, judge_heartbeat, judge_spread


def trace(*arrivals: tuple[float, str | None], headers_at: float = 0.01) -> StreamTrace:
    t = StreamTrace(status=200, headers_at=headers_at)
    t.arrivals = [Arrival(at, name, comment=name is None) for at, name in arrivals]
    t.ended_at = max(at for at, _ in arrivals)
    return t


def paced(start: float = 0.05) -> list[tuple[float, str | None]]:
    deltas = [(0.25 + 0.2 * i, "message.delta") for i in range(8)]
    return [(start, "run.started"), *deltas, (1.8, "message.completed"), (1.8, "run.completed"), (1.8, "done")]


def test_events_spread_over_the_reply_pass() -> None:
    assert judge_spread(trace(*paced())).status == "PASS"


def test_everything_at_the_end_fails() -> None:
    late = [(1.8 + i * 0.001, name) for i, (_, name) in enumerate(paced())]
    verdict = judge_spread(trace(*late, headers_at=1.8))
    assert verdict.status == "FAIL" and "buffered" in verdict.detail


def test_early_start_but_deltas_in_one_lump_fails() -> None:
    lump = [(0.05, "run.started"), *[(1.7, "message.delta")] * 8, (1.7, "done")]
    assert judge_spread(trace(*lump)).status == "FAIL"


def test_a_very_quick_reply_is_only_a_warning() -> None:
    quick = [(0.01, "run.started"), (0.02, "message.delta"), (0.03, "done")]
    assert judge_spread(trace(*quick)).status == "WARN"


def test_a_stream_without_done_fails() -> None:
    assert judge_spread(trace((0.1, "run.started"))).status == "FAIL"


def test_heartbeats_before_the_reply_pass_and_held_back_ones_fail() -> None:
    good = trace((0.01, "run.started"), (0.3, None), (0.6, None), (0.9, None), (1.2, "message.delta"), (1.3, "done"))
    assert judge_heartbeat(good, 1.2).status == "PASS"
    held = trace((1.3, "run.started"), (1.3, None), (1.3, None), (1.3, "message.delta"), (1.3, "done"))
    assert judge_heartbeat(held, 1.2).status == "FAIL"
    none = trace((0.01, "run.started"), (1.2, "message.delta"), (1.3, "done"))
    assert judge_heartbeat(none, 1.2).status == "FAIL"


def test_bursts() -> None:
    assert bursts([]) == 0
    assert bursts([1.0, 1.01, 1.02]) == 1
    assert bursts([0.2, 0.4, 0.6]) == 3


def test_every_check_has_a_fix_for_all_three_front_ends() -> None:
    for check in FIX_FOR_CHECK:
        fix = fix_for(check)
        assert fix is not None
        text = fix.render()
        assert "nginx:" in text and "Caddy:" in text and "Cloudflare:" in text
    assert set(FIX_FOR_CHECK.values()) == set(FIXES)


def test_default_origin() -> None:
    assert default_origin("https://chat.shop.com/some/prefix") == "https://chat.shop.com"


def test_site_origin() -> None:
    assert site_origin("shop.com", "https://chat.shop.com") == "https://shop.com"
    assert site_origin("http://localhost:5173/", "https://x") == "http://localhost:5173"
    assert site_origin(None, "http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
