"""The one retry backoff: doubling from ``first``, capped, jitter that only ever shortens a wait."""

from __future__ import annotations

import pytest

from proxy.backoff import DEFAULT_JITTER, Backoff, backoff_delay


def test_without_jitter_the_delay_doubles_up_to_the_cap() -> None:
    assert [backoff_delay(n, first=1.0, cap=10.0, jitter=0.0) for n in range(6)] == [1, 2, 4, 8, 10, 10]


def test_jitter_shortens_by_at_most_its_fraction_and_spreads_the_waits() -> None:
    delays = [backoff_delay(3, first=1.0, cap=100.0) for _ in range(200)]
    assert all(8.0 * (1 - DEFAULT_JITTER) <= delay <= 8.0 for delay in delays)
    assert len(set(delays)) > 100  # callers failing together do not wait alike


@pytest.mark.parametrize("fraction", [0.0, 0.999999])
def test_the_cap_holds_whatever_the_random_draw(monkeypatch: pytest.MonkeyPatch, fraction: float) -> None:
    monkeypatch.setattr("proxy.backoff.random.random", lambda: fraction)
    delay = backoff_delay(20, first=0.5, cap=30.0)
    assert delay == pytest.approx(30.0 * (1 - DEFAULT_JITTER * fraction))


def test_edge_attempts_and_a_zero_first_delay() -> None:
    assert backoff_delay(10_000, first=30.0, cap=3600.0, jitter=0.0) == 3600.0  # no float overflow
    assert backoff_delay(-1, first=2.0, cap=60.0, jitter=0.0) == 2.0
    assert backoff_delay(5, first=0.0, cap=60.0) == 0.0


async def test_a_deadline_bounded_backoff_doubles_its_waits_until_the_ceiling() -> None:
    backoff = Backoff(30.0, first=0.001, ceiling=0.004)
    seen = []
    for _ in range(4):
        seen.append(backoff.delay)
        assert not backoff.exhausted()
        await backoff.wait()
    assert seen == [0.001, 0.002, 0.004, 0.004]
    assert 29.0 < backoff.remaining() <= 30.0


async def test_a_backoff_is_exhausted_when_the_next_wait_could_pass_its_deadline() -> None:
    assert Backoff(0.01, first=0.05).exhausted()
    assert not Backoff(1.0, first=0.05).exhausted()
