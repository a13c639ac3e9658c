"""Where turns run: a task group owned by the app, and the index of runs in this process.

A run is followed by zero or more readers (the SSE response, a reconnect). When the last reader
goes away the run keeps going for ``disconnect_grace`` seconds, writing its events to the event
log so that a reconnect on any worker can pick it up; if nobody comes back it is cancelled.

A request admits its turn (:meth:`TurnManager.admit`) before doing any work for it: refused while
the manager drains for shutdown or while the :class:`~proxy.turns.admission.Admission` says the
worker is overloaded.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
from anyio.abc import TaskGroup
from psycopg import OperationalError
from psycopg_pool import PoolClosed

from proxy.observability.metrics import TURNS_REFUSED
from proxy.store.db import Backoff
from proxy.store.event_log import EventLog
from proxy.turns.admission import Admission, TurnRefused
from proxy.turns.runner import SHUTTING_DOWN, ActiveRun, TurnJob

logger = logging.getLogger(__name__)

LOG_DEADLINE = 120.0  # seconds an event-log write is retried before the copy gives up
CUT_WAIT = 10.0  # seconds a drain waits for the turns it ended to send `done`


class TurnManager:
    def __init__(
        self,
        task_group: TaskGroup,
        event_log: EventLog,
        *,
        disconnect_grace: float = 10.0,
        admission: Admission | None = None,
    ) -> None:
        self._task_group = task_group
        self._log = event_log
        self._grace = disconnect_grace
        self._runs: dict[str, ActiveRun] = {}
        self._admitted = 0  # admitted, not started yet
        self._log_slots: anyio.CapacityLimiter | None = None  # made on first use, in the event loop
        self.admission = admission or Admission()
        self.accepting = True

    # -- admitting ---------------------------------------------------------------------------------

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a place for a turn until it is started (or the request fails); TurnRefused if none.

        Turns admitted but not started yet count against the cap on running turns, so that
        concurrent requests cannot all slip under it while they wait for their thread's lock.
        """
        reason = "shutting_down" if not self.accepting else self.admission.refusal(self.active + self._admitted)
        if reason is not None:
            TURNS_REFUSED.labels(reason).inc()
            raise TurnRefused(reason)
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    # -- running -----------------------------------------------------------------------------------

    def start(self, job: TurnJob) -> ActiveRun:
        run = ActiveRun(job)
        self._runs[run.run_id] = run
        self._task_group.start_soon(self._execute, run, name=f"turn {run.run_id}")
        return run

    async def _execute(self, run: ActiveRun) -> None:
        try:
            await run.execute()
        finally:
            self._runs.pop(run.run_id, None)

    def get(self, run_id: str) -> ActiveRun | None:
        return self._runs.get(run_id)

    def holding_threads(self) -> list[ActiveRun]:
        """The runs of this process that hold their thread: running, or saving their end."""
        return list(self._runs.values())

    def cancel(self, run_id: str, *, thread_id: str) -> bool:
        run = self._runs.get(run_id)
        if run is None or run.thread_id != thread_id:
            return False
        run.cancel()
        return True

    @property
    def active(self) -> int:
        return len(self._runs)

    # -- readers ---------------------------------------------------------------------------------

    def attach(self, run: ActiveRun) -> None:
        run.readers += 1

    def detach(self, run: ActiveRun, *, saw_done: bool) -> None:
        """A reader's connection ended, after ``done`` or because it dropped.

        A dropped reader may come back (here or on another worker), so the run's events go to the
        event log; that includes a run that finished before the drop was noticed.
        """
        run.readers -= 1
        if saw_done or run.readers > 0:
            return
        if self._grace <= 0:
            run.cancel()
            return
        if not run.persisting:
            run.persisting = True
            self._task_group.start_soon(self._persist, run, name=f"persist {run.run_id}")
        if not run.finished:
            self._task_group.start_soon(self._cancel_unless_resumed, run, name=f"grace {run.run_id}")

    async def _persist(self, run: ActiveRun) -> None:
        """Copy the run's events to the event log as they come, until the run ends."""
        try:
            await self._logging(self._log.open, run.run_id, run.thread_id)
            position = 0
            while True:
                batch, closed, changed = run.channel.snapshot(position)
                await self._logging(self._log.append, run.run_id, batch)
                position += len(batch)
                if closed and not batch:
                    break
                if not batch:
                    await changed.wait()
            await self._logging(self._log.finish, run.run_id)
        except Exception:
            logger.exception("could not keep the events of a run", extra={"run_id": run.run_id})

    async def _logging(self, write: Callable[..., Awaitable[None]], *args: Any) -> None:
        """One event-log write, retried while the database is busy or briefly away.

        Many readers dropping at once (a deploy, a network blip) start as many copies at once; they
        take at most half the pool, wait their turn here rather than time out in the pool, and
        retry a failed write (each is idempotent) for up to ``LOG_DEADLINE`` seconds.
        """
        if self._log_slots is None:
            self._log_slots = anyio.CapacityLimiter(max(1, self._log.db.pool.max_size // 2))
        backoff = Backoff(LOG_DEADLINE)
        while True:
            try:
                async with self._log_slots:
                    await write(*args)
                return
            except PoolClosed:
                raise  # shutting down: nothing to wait for
            except OperationalError:
                if backoff.exhausted():
                    raise
            await backoff.wait()

    async def _cancel_unless_resumed(self, run: ActiveRun) -> None:
        while True:
            with anyio.move_on_after(self._grace):
                await run.channel_closed()
            if run.finished or run.readers > 0:
                return
            if not await self._log.reader_active(run.run_id, within_seconds=self._grace):
                run.cancel()
                return

    # -- shutting down -----------------------------------------------------------------------------

    async def drain(self, timeout: float) -> None:
        """Refuse new turns, give running ones ``timeout`` seconds to finish, then end the rest with
        ``shutting_down`` (the partial reply saved, ``done`` sent) and wait for their streams to close."""
        if self.accepting:
            self.accepting = False
            if self._runs:
                logger.info("draining %d running turn(s) for up to %.0f s", len(self._runs), timeout)
        with anyio.move_on_after(timeout):
            while (running := [run for run in self._runs.values() if not run.finished]) or self._admitted:
                if running:
                    await running[0].channel_closed()
                else:
                    await anyio.sleep(0.05)  # a turn admitted just before the drain is about to start
        cut = [run for run in self._runs.values() if not run.finished]
        for run in cut:
            run.cancel(SHUTTING_DOWN)
        with anyio.move_on_after(CUT_WAIT):  # their epilogues are shielded and quick
            for run in cut:
                await run.channel_closed()
