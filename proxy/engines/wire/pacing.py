"""Reading a provider's answer in step with the writes that show it.

Why: a provider writes each token on its own, so each arrives as its own TCP segment, and each
read costs the worker an event-loop wake-up, a ``recv``, the connection's protocol and parser, and
a wake-up of the turn's task through the engine, the runner and the channel (bench/FINDINGS.md,
section 10: most of a relayed token's CPU). The visitor sees tokens only at the stream's next
write, and the stream's reader pauses between writes (``WRITE_PAUSE`` in
:mod:`proxy.turns.channel`): a token read during that pause waits for its end anyway. So, while
many streams are open (the pause has grown past its base of 50 ms: CPU is what is short), after a
write that carried text the reader holds the turn's connection for its pause
(:class:`~proxy.engines.base.ReadPace`): the connection stops reading (``pause_reading``), the
kernel keeps what arrives, and when the hold ends, just before the pause does, one read, one parse
and one wake-up of the turn carry everything that came meanwhile.

What does not change: a token reaches the visitor's stream no later than before (what arrives
during a hold is read at its end, when the reader's next write would have taken it); the first
token of a reply is never held (nothing is held before text has been written); a tool call, an
error or the end of the provider's answer waits in the kernel at most one pause, like a token, and
once read, the end of a run ends the reader's pause at once; with few streams open nothing is
held, so those are read the moment they arrive, as before. A hold is not placed when the
connection's read timeout would fall inside it (so the timeout still finds it reading), and the
back-pressure pause (:mod:`proxy.engines.wire.feed`) is separate: reading resumes only when
neither asks for the pause.

The holds of every connection of the worker end on one loop timer, per tick of ``TICK`` seconds,
instead of a timer each: a hold ends at the start of the tick it falls in (never later than
asked).
"""

from __future__ import annotations

import asyncio
import heapq
from typing import Protocol

__all__ = ("TICK", "Holds", "holds")

TICK = 0.005  # seconds: holds ending within one tick end together


class Released(Protocol):
    def release(self) -> None:
        """The hold is over: read again (unless something else still asks for the pause)."""
        ...


class Holds:
    """Ends holds at their time: connections in buckets per tick, one loop timer for the earliest."""

    __slots__ = ("_buckets", "_ticks", "_timer", "_timer_tick", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._buckets: dict[int, list[Released]] = {}
        self._ticks: list[int] = []  # a heap of the buckets' ticks
        self._timer: asyncio.TimerHandle | None = None
        self._timer_tick = 0

    def add(self, held: Released, seconds: float) -> None:
        """Call ``held.release()`` after at most ``seconds``."""
        tick = int((self.loop.time() + seconds) / TICK)
        bucket = self._buckets.get(tick)
        if bucket is not None:
            bucket.append(held)
            return
        self._buckets[tick] = [held]
        heapq.heappush(self._ticks, tick)
        if self._timer is None or tick < self._timer_tick:
            if self._timer is not None:
                self._timer.cancel()
            self._arm(tick)

    def _arm(self, tick: int) -> None:
        self._timer_tick = tick
        self._timer = self.loop.call_at(tick * TICK, self._fire)

    def _fire(self) -> None:
        self._timer = None
        ticks, buckets = self._ticks, self._buckets
        now = int(self.loop.time() / TICK + 0.2)  # a timer a little early (the loop's clock granularity) counts
        while ticks and ticks[0] <= now:
            for held in buckets.pop(heapq.heappop(ticks)):
                held.release()
        if ticks:
            self._arm(ticks[0])

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self._buckets.values())


_holds: Holds | None = None


def holds(loop: asyncio.AbstractEventLoop) -> Holds:
    """The holds of ``loop``'s connections (one set per loop)."""
    global _holds
    current = _holds
    if current is None or current.loop is not loop:  # (another loop's go on with their own timer)
        current = _holds = Holds(loop)
    return current  # (not the global again: a loop in another thread may have replaced it)
