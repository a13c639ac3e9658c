"""A run whose last reader went away: its events copied to the event log, the run cancelled if
nobody comes back within the grace.

A dropped reader may come back, here or on another worker, so the run's events go to the event log
(a run that finished before the drop was noticed included) and the run keeps going for
``grace`` seconds; if no reader is back by then, here or elsewhere, it is cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import TaskGroup
from psycopg import OperationalError
from psycopg_pool import PoolClosed

from proxy.backoff import Backoff
from proxy.turns.runner import ActiveRun, TurnServices

__all__ = ("LOG_DEADLINE", "DroppedReaders")

logger = logging.getLogger(__name__)

LOG_DEADLINE = 120.0  # seconds an event-log write is retried before the copy gives up


class DroppedReaders:
    """What becomes of the runs left without a reader (see the module)."""

    def __init__(self, task_group: TaskGroup, services: TurnServices, grace: float) -> None:
        self._task_group = task_group
        self._services = services
        self._grace = grace
        self._log_slots: anyio.CapacityLimiter | None = None  # made on first use, in the event loop

    def left(self, run: ActiveRun) -> None:
        """The run's last reader went away before ``done``."""
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
        event_log = self._services.event_log
        try:
            await self._logging(event_log.open, run.run_id, run.thread_id)
            position = 0
            while True:
                batch, closed, changed = run.channel.snapshot(position)
                await self._logging(event_log.append, run.run_id, batch)
                position += len(batch)
                if closed and not batch:
                    break
                if not batch:
                    await changed.wait()
            await self._logging(event_log.finish, run.run_id)
        except Exception:
            logger.exception("could not keep the events of a run", extra={"run_id": run.run_id})

    async def _logging(self, write: Callable[..., Awaitable[None]], *args: Any) -> None:
        """One event-log write, retried while the database is busy or briefly away.

        Many readers dropping at once (a deploy, a network blip) start as many copies at once; they
        take at most half the pool, wait their turn here rather than time out in the pool, and
        retry a failed write (each is idempotent) for up to ``LOG_DEADLINE`` seconds.
        """
        if self._log_slots is None:
            self._log_slots = anyio.CapacityLimiter(max(1, self._services.event_log.db.pool.max_size // 2))
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
            if not await self._services.event_log.reader_active(run.run_id, within_seconds=self._grace):
                run.cancel()
                return
