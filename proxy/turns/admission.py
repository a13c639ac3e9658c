"""Admission control: may this worker start one more turn now?

A worker past its capacity that starts every chat it is sent gives each an equal slice of the
CPU, so all of them slow down together until none finishes. Refusing new turns while the worker
is overloaded keeps the admitted ones at full speed; the refused ones get a quick ``503`` with
``Retry-After`` that the widget or a load balancer can retry.

The signals are how busy the worker is, not the number of turns: a turn waiting on a slow
provider costs no CPU, and one worker should hold thousands of those. The event loop's lateness
(:class:`LagMonitor`) is watched by default; the share of a core the worker uses
(:class:`CpuMonitor`: past ~95 % every new chat queues behind the others) on request, for
deployments where a load balancer retries a refused request on another worker. The optional
cap on running turns (:attr:`Admission.max_active_turns`) is for operators who want a hard
ceiling as well.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

import anyio

from proxy.errors import ProxyError
from proxy.observability.metrics import CPU_BUSY, LOOP_LAG

if TYPE_CHECKING:
    from proxy.settings import Settings

logger = logging.getLogger(__name__)

LAG_SAMPLE_INTERVAL = 0.05  # seconds between two samples of the event loop's lag

Reason = Literal["cpu_busy", "loop_lag", "max_active_turns", "shutting_down"]

RETRY_AFTER = 2
"""Seconds a refused caller is asked to wait: about the time the lag needs to settle once the
load eases (see :class:`LagMonitor`), and short enough for a visitor to wait through."""


class TurnRefused(ProxyError):
    """A new turn may not start now; ``retry_after`` is whole seconds."""

    code = "overloaded"
    status = 503
    public = True

    def __init__(self, reason: Reason, retry_after: int = RETRY_AFTER) -> None:
        self.reason = reason
        self.retry_after = retry_after
        headers = {"Retry-After": str(retry_after)}
        if reason == "shutting_down":
            message = "The server is restarting; send the message again in a moment."
            super().__init__(message, code="shutting_down", headers=headers)
        else:
            message = "The assistant is very busy right now; send the message again in a moment."
            super().__init__(message, headers=headers, extra={"reason": reason, "retry_after": retry_after})


class LagMonitor:
    """How late the event loop wakes a sleeping task, smoothed; overloaded above a threshold.

    :meth:`run` sleeps ``interval`` seconds (50 ms) at a time and records how much later than
    asked it woke: the time every callback ready before it took, which is also how long every
    stream's next event waits. The samples are smoothed by an exponentially weighted moving
    average (the newest sample weighs ``WEIGHT`` = 0.2, so the average follows the last five or
    so) and compared with ``threshold``:

    * above ``threshold`` the worker is overloaded and refuses new turns;
    * it accepts them again once the average is below half of it, so that it does not flap
      around the threshold while the admitted turns finish.

    The default threshold is 0.05 s (``PROXY_MAX_LOOP_LAG``), from the load bench (``bench/``, one
    worker, ~30 ms of CPU per chat, ~30 concurrent chats of capacity, 2 shared cores). The lag is
    one turn of the loop, and a chat waits for dozens of them (database statements, provider reads,
    writes) before its first token, so a small lag already means slow replies:

    * within capacity (20 chats) the samples were 1-5 ms, the average stayed under 20 ms even
      with start-up and garbage-collection spikes;
    * at two to three times capacity (60-100 chats) the average was 10-45 ms and the first token
      came 3-4 times later than at 20 chats;
    * at ten times capacity (300 chats, hardly a reply finished) it was 60-200 ms.

    A threshold of 0.15-0.25 s, where streamed text would visibly stutter, was never crossed even
    by a worker that finished no reply at all. At 0.05 s a worker sheds from about three times its
    capacity on and accepts again below 25 ms. A single long pause (say a full garbage collection
    of a big heap) sheds for a moment: one second of it lifts the average to 0.2 s, which falls
    below 25 ms within ten samples (0.5 s).

    The lag shows load that is running, not load that was just admitted: a burst of new chats
    within a second or two is let in before their streams make the loop late. The cap on running
    turns is the guard against such bursts.
    """

    WEIGHT = 0.2

    def __init__(
        self, threshold: float, *, interval: float = LAG_SAMPLE_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if threshold <= 0:
            raise ValueError("threshold must be positive (switch the monitor off by not creating one)")
        self.threshold = threshold
        self.resume_below = threshold / 2
        self.interval = interval
        self.clock = clock
        self.lag = 0.0
        self.overloaded = False

    def record(self, sample: float) -> None:
        """Add one lateness sample (seconds) and switch between overloaded and not."""
        self.lag += self.WEIGHT * (max(0.0, sample) - self.lag)
        LOOP_LAG.set(self.lag)
        if not self.overloaded and self.lag > self.threshold:
            self.overloaded = True
            logger.warning(
                "event loop lag %.0f ms is over %.0f ms: refusing new turns",
                self.lag * 1000,
                self.threshold * 1000,
                extra={"loop_lag_ms": round(self.lag * 1000)},
            )
        elif self.overloaded and self.lag < self.resume_below:
            self.overloaded = False
            logger.warning(
                "event loop lag back to %.0f ms: accepting new turns again",
                self.lag * 1000,
                extra={"loop_lag_ms": round(self.lag * 1000)},
            )

    async def run(self) -> None:
        """Sample the loop's lateness until cancelled."""
        while True:
            started = self.clock()
            await anyio.sleep(self.interval)
            self.record(self.clock() - started - self.interval)


class CpuMonitor:
    """The share of one core the worker used, smoothed over about a second; overloaded above a threshold.

    A worker is one process with one event loop: it can use one core, and once it does, every new
    chat waits behind the running ones. The event loop's lag alone shows that late: the loop keeps
    turning quickly while each token needs several turns of it, so on the load bench a worker at
    ten times its capacity (replies taking 5-10 s instead of 1) kept its smoothed lag mostly under
    50 ms. The CPU share shows it at once: under 90 % within capacity, 100 % past it.

    :meth:`run` samples the process's CPU time every ``interval`` seconds (50 ms); the share is an
    exponentially weighted average with weight ``interval / window`` (a one-second window), so a
    burst of work must last a good part of a second to count. Overloaded above ``threshold``
    (``PROXY_MAX_CPU_BUSY``, e.g. 0.95 of a core), accepting again below ``threshold - 0.1``.

    Off by default: a refusal is only cheaper than a slow reply when something retries it at once
    elsewhere (a load balancer in front of several workers). With the widget alone, the refused
    visitor waits ``Retry-After`` and tries the same worker again; on the load bench (one worker,
    closed loop) shedding at 0.95 halved the replies finished at 200 chats (238 against 457) and
    tripled the median time to first token, where the lag signal refused hardly anyone.
    """

    def __init__(
        self,
        threshold: float,
        *,
        interval: float = LAG_SAMPLE_INTERVAL,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.process_time,
    ) -> None:
        if not 0 < threshold <= 1:
            raise ValueError("threshold must be a share of one core, in (0, 1]")
        self.threshold = threshold
        self.resume_below = threshold - 0.1
        self.interval = interval
        self.weight = min(1.0, interval / window)
        self.clock = clock
        self.cpu_clock = cpu_clock
        self.busy = 0.0
        self.overloaded = False

    def record(self, cpu_seconds: float, wall_seconds: float) -> None:
        """Add one sample: CPU time used during ``wall_seconds``; switch between overloaded and not."""
        if wall_seconds <= 0:
            return
        share = min(1.0, max(0.0, cpu_seconds / wall_seconds))
        self.busy += self.weight * (share - self.busy)
        CPU_BUSY.set(self.busy)
        if not self.overloaded and self.busy > self.threshold:
            self.overloaded = True
            logger.warning(
                "worker busy %.0f %% of a core, over %.0f %%: refusing new turns",
                self.busy * 100,
                self.threshold * 100,
                extra={"cpu_busy": round(self.busy, 3)},
            )
        elif self.overloaded and self.busy < self.resume_below:
            self.overloaded = False
            logger.warning(
                "worker busy %.0f %% of a core: accepting new turns again",
                self.busy * 100,
                extra={"cpu_busy": round(self.busy, 3)},
            )

    async def run(self) -> None:
        """Sample until cancelled."""
        wall, cpu = self.clock(), self.cpu_clock()
        while True:
            await anyio.sleep(self.interval)
            now_wall, now_cpu = self.clock(), self.cpu_clock()
            self.record(now_cpu - cpu, now_wall - wall)
            wall, cpu = now_wall, now_cpu


class Admission:
    """Decides whether a new turn may start: CPU, loop lag, then the optional cap on running turns."""

    def __init__(
        self, lag: LagMonitor | None = None, *, cpu: CpuMonitor | None = None, max_active_turns: int | None = None
    ) -> None:
        self.lag = lag
        self.cpu = cpu
        self.max_active_turns = max_active_turns or None  # 0: no cap
        self._capped = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Admission:
        lag = LagMonitor(settings.max_loop_lag) if settings.max_loop_lag > 0 else None
        cpu = CpuMonitor(settings.max_cpu_busy) if settings.max_cpu_busy > 0 else None
        return cls(lag, cpu=cpu, max_active_turns=settings.max_active_turns)

    def refusal(self, active_turns: int) -> Reason | None:
        """Why a turn may not start next to ``active_turns`` running ones, or None when it may."""
        if self.cpu is not None and self.cpu.overloaded:
            return "cpu_busy"
        if self.lag is not None and self.lag.overloaded:
            return "loop_lag"
        cap = self.max_active_turns
        if cap is not None:
            capped = active_turns >= cap
            if capped != self._capped:
                self._capped = capped
                if capped:
                    logger.warning("%d turns running: refusing new turns (PROXY_MAX_ACTIVE_TURNS)", active_turns)
                else:
                    logger.warning("%d turns running: accepting new turns again", active_turns)
            if capped:
                return "max_active_turns"
        return None

    @asynccontextmanager
    async def watching(self) -> AsyncIterator[Admission]:
        """Run the monitors (if any) while the app serves."""
        if self.lag is None and self.cpu is None:
            yield self
            return
        async with anyio.create_task_group() as group:
            if self.lag is not None:
                group.start_soon(self.lag.run, name="event loop lag monitor")
            if self.cpu is not None:
                group.start_soon(self.cpu.run, name="cpu monitor")
            try:
                yield self
            finally:
                group.cancel_scope.cancel()
