"""The capacity search: the highest rate a target holds, found with trials that are each noisy.

A trial runs the target at one rate and says whether it held (no errors, added TTFT p99 within
the bound). On a shared machine one slow second can fail a trial at a rate the target holds, and
one quiet run can pass a rate it does not; the search's result moved by a third between runs. So:

* a rate is never taken as failing on one trial: a failed trial is repeated, and where the two
  disagree a third decides (two of three);
* a held trial is taken at once while searching, but the rate finally found (the boundary) is
  confirmed the same way, two held trials of up to three; if it does not confirm, it becomes the
  upper end and the search goes on below it, down to the highest rate held before.

The rate doubles from ``start`` until a rate fails (or passes ``limit``), then the interval
between the last rate held and the first that failed is halved ``halvings`` times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Found", "search"]

Trial = Callable[[float], bool]
MAX_CONFIRMATIONS = 4  # boundaries tried before the search settles for the last rate held


@dataclass
class Found:
    """The outcome of a search: the rate found and every trial's verdict, in order."""

    max_rate: float  # 0: not even the lowest rate tried held
    first_failing_rate: float | None  # None: every rate up to the limit held
    confirmed: bool  # max_rate held twice (or max_rate is 0)
    trials: list[tuple[float, bool]] = field(default_factory=list)

    @property
    def capped(self) -> bool:
        """The limit held: the capacity is at least ``max_rate``."""
        return self.first_failing_rate is None


class _Verdicts:
    def __init__(self, trial: Trial) -> None:
        self.trial = trial
        self.tries: dict[float, list[bool]] = {}
        self.order: list[tuple[float, bool]] = []

    def holds(self, rate: float, *, confirm: bool = False) -> bool:
        """Two agreeing trials of up to three; one held trial is enough unless ``confirm``."""
        tries = self.tries.setdefault(rate, [])
        while True:
            held, failed = tries.count(True), tries.count(False)
            if held >= 2 or (held == 1 and failed == 0 and not confirm):
                return True
            if failed >= 2:
                return False
            ok = self.trial(rate)
            tries.append(ok)
            self.order.append((rate, ok))

    def held_below(self, rate: float) -> float:
        """The highest rate under ``rate`` whose verdict so far is that it held (0 if none)."""
        return max((r for r, t in self.tries.items() if r < rate and t.count(True) > t.count(False)), default=0.0)


def search(trial: Trial, *, start: float, limit: float, halvings: int) -> Found:
    """The highest rate ``trial`` holds (see the module's docstring for how noise is kept in check)."""
    verdicts = _Verdicts(trial)
    low, high, rate = 0.0, None, start
    while rate <= limit:
        if not verdicts.holds(rate):
            high = rate
            break
        low, rate = rate, rate * 2
    # the width the halvings leave of the interval the doubling ended in
    resolution = ((high - low) if high is not None else low / 2) / 2**halvings
    confirmed = low == 0
    for _ in range(MAX_CONFIRMATIONS):
        if high is not None:
            while high - low > resolution:
                middle = round((low + high) / 2, 1)
                if middle in (low, high):
                    break
                if verdicts.holds(middle):
                    low = middle
                else:
                    high = middle
        if low == 0 or verdicts.holds(low, confirm=True):
            confirmed = True
            break
        high, low = low, verdicts.held_below(low)  # the boundary failed its repeat: search below it
    return Found(max_rate=low, first_failing_rate=high, confirmed=confirmed, trials=verdicts.order)
