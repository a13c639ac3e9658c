"""Young garbage collections wait while many turns are starting at once.

A young collection stops the worker for as long as it takes to look at every object made since the
last one: ~10-25 ms at the app's threshold (``GC_YOUNG_THRESHOLD``, 20,000), and a burst of 200 new
chats makes more than that many, so one collection fell in the middle of every such burst, while
the requests still to be read, checked and sent to the provider all waited for it. While at least
:data:`STARTING` turns are admitted and not yet started, the collector's young threshold is raised
to :data:`DEFERRED_THRESHOLD`; once none is, it is put back, and the collection due (if any) runs
then, while the started turns wait for their provider's first token (in a burst of 200 on a quiet
worker, ~70 ms of starts and ~20 ms of collection against the provider's 200 ms and more). Nothing
is skipped, and the young generation never holds more than :data:`DEFERRED_THRESHOLD` objects
however long starts keep coming.
"""

from __future__ import annotations

import gc

__all__ = ("DEFERRED_THRESHOLD", "STARTING", "StartingTurns")

STARTING = 8  # turns admitted and not started at once: many chats are starting
# the young threshold meanwhile: room for a burst of 200 (~20,000 objects made while they start,
# besides what was there), and a bound should starts never stop (a pause of three usual ones at most)
DEFERRED_THRESHOLD = 60_000


class StartingTurns:
    """Counts turns admitted and not started; holds young collections back while there are many."""

    __slots__ = ("_kept", "count")

    def __init__(self) -> None:
        self.count = 0
        self._kept: tuple[int, int, int] | None = None  # the thresholds to put back

    def enter(self) -> None:
        self.count += 1
        if self.count == STARTING and self._kept is None:
            self._kept = kept = gc.get_threshold()
            if gc.isenabled() and kept[0] and kept[0] < DEFERRED_THRESHOLD:
                gc.set_threshold(DEFERRED_THRESHOLD, kept[1], kept[2])
            else:
                self._kept = None  # the collector is off, or already rarer than this

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0 and self._kept is not None:
            if gc.get_threshold()[0] == DEFERRED_THRESHOLD:  # not set since by someone else (a shutdown)
                gc.set_threshold(*self._kept)
            self._kept = None
