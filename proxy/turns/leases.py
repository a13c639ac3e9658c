"""Turn locks as short leases, and freeing the threads of workers that died.

A turn's lock on its thread lasts ``PROXY_TURN_LEASE`` seconds; the worker running it renews it a
few times per lease, writing the reply so far (its draft) with it. A worker that dies (kill -9, a
crashed machine) stops renewing, so its threads are free again within a lease instead of after
the whole turn timeout. Every worker, in the same rounds, frees the lapsed leases it finds: the
dead turn's draft becomes its reply in the history, and a saved stream someone may be following
ends with ``error`` (``interrupted``) and ``done``. A new message on such a thread does the same
when it gets there first (:meth:`ThreadStore.lock`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from proxy.store.db import pool_wait_limit
from proxy.store.threads import Lease
from proxy.turns.manager import TurnManager
from proxy.turns.runner import INTERRUPTED

logger = logging.getLogger(__name__)

ROUNDS_PER_LEASE = 3  # renewals per lease: two may fail before a live turn loses its thread


class LeaseKeeper:
    """Renews the leases of the manager's turns (of ``services.lease`` seconds) and frees lapsed ones."""

    def __init__(self, turns: TurnManager) -> None:
        self.turns = turns
        self.threads = turns.services.threads
        self.event_log = turns.services.event_log
        self.lease = turns.services.lease
        self._written: dict[str, str] = {}  # run id -> the draft last written
        self._lost: set[str] = set()

    @property
    def interval(self) -> float:
        return self.lease / ROUNDS_PER_LEASE

    async def run(self) -> None:
        while True:
            with pool_wait_limit(self.interval):
                try:
                    await self.renew()
                except Exception as exc:  # the database away: the next round tries again
                    logger.warning("could not renew the leases of running turns", extra={"error": repr(exc)})
                try:
                    await self.reap()
                except Exception as exc:
                    logger.warning("could not free lapsed turn leases", extra={"error": repr(exc)})
            await anyio.sleep(self.interval)

    async def renew(self) -> None:
        runs = self.turns.holding_threads()  # until its end is saved, a turn keeps its thread
        leases = []
        for run in runs:
            draft = run.reply_so_far()
            changed = draft != self._written.get(run.run_id, "")
            leases.append(Lease(run.thread_id, run.run_id, draft if changed else None, run.provider_state))
        held = await self.threads.renew(leases, self.lease)
        current = {run.run_id for run in runs}
        for lease in leases:
            if lease.draft is not None:
                self._written[lease.run_id] = lease.draft
            if lease.run_id not in held and lease.run_id not in self._lost:
                self._lost.add(lease.run_id)
                logger.warning(
                    "a running turn lost its thread's lease (this worker stalled past it)",
                    extra={"run_id": lease.run_id, "thread_id": lease.thread_id},
                )
        self._written = {run_id: text for run_id, text in self._written.items() if run_id in current}
        self._lost &= current

    async def reap(self) -> None:
        ended = await self.threads.reap()
        if not ended:
            return
        for thread_id, run_id in ended:
            logger.warning(
                "freed a thread whose turn's worker stopped renewing its lease",
                extra={"thread_id": thread_id, "run_id": run_id},
            )
        await self.event_log.end_abandoned([run_id for _, run_id in ended], INTERRUPTED.as_dict())


@asynccontextmanager
async def keeping_leases(turns: TurnManager) -> AsyncIterator[LeaseKeeper]:
    """Renew this worker's turn leases and free lapsed ones while the block runs."""
    keeper = LeaseKeeper(turns)
    async with anyio.create_task_group() as group:
        group.start_soon(keeper.run, name="turn leases")
        try:
            yield keeper
        finally:
            group.cancel_scope.cancel()
