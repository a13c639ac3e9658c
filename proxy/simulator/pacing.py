"""Paces the deltas of a program and strikes its mid-stream fault after a few of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from proxy.simulator.faults import FAULT_AFTER_DELTAS
from proxy.simulator.script import Pace
from proxy.simulator.streaming import CUT, STALL, Step

__all__ = ("MID_STREAM_FAULTS", "Ended", "Pacer")

MID_STREAM_FAULTS = frozenset({"cut", "stall", "failed"})


class Ended(Exception):
    """A fault ended the program; the program returns without its terminal events."""


class Pacer:
    """Yields what comes before each delta: the gap, and once, the fault.

    ``on_cut`` records the failure before the connection drops; ``on_failed`` yields the events
    that report a failed response or run (a ``stall`` needs neither: it never resumes).
    """

    __slots__ = ("_on_cut", "_on_failed", "fault", "pace", "sent")

    def __init__(
        self,
        pace: Pace,
        fault: str | None,
        *,
        on_cut: Callable[[], None],
        on_failed: Callable[[], Iterator[bytes]],
    ) -> None:
        self.pace = pace
        self.fault = fault if fault in MID_STREAM_FAULTS else None
        self.sent = 0
        self._on_cut = on_cut
        self._on_failed = on_failed

    def before_delta(self) -> Iterator[Step]:
        if self.sent and self.pace.gap:
            yield self.pace.gap
        if self.sent == FAULT_AFTER_DELTAS:
            yield from self._strike()
        self.sent += 1

    def before_end(self) -> Iterator[Step]:
        """The fault of a reply too short to reach it, just before the terminal events."""
        if self.sent < FAULT_AFTER_DELTAS:
            yield from self._strike()

    def _strike(self) -> Iterator[Step]:
        if self.fault == "stall":
            yield STALL
        elif self.fault == "cut":
            self._on_cut()
            yield CUT
            raise Ended
        elif self.fault == "failed":
            yield from self._on_failed()
            raise Ended
