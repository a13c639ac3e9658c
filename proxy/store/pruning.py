"""Deleting what is no longer needed, on a schedule: saved stream events of old runs, and
delivered outbox rows past their retention.

Without it both tables only grow: every dropped stream leaves its events, every mail its row, and
each scrape of the outbox gauge or resume lookup reads a larger table. Each worker runs the pass
(the deletes are idempotent, so several workers pruning at once only repeat each other's work).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from proxy.store.db import Database
from proxy.store.event_log import EventLog

logger = logging.getLogger(__name__)

BATCH = 5000  # rows per delete: short statements, short locks


async def prune_outbox(db: Database, *, keep_days: float) -> int:
    """Delete rows delivered more than ``keep_days`` ago; pending, sending and dead ones stay."""
    total = 0
    while True:
        deleted = await db.execute(
            "delete from outbox where id in (select id from outbox where state = 'sent'"
            " and sent_at < now() - make_interval(secs => %s) limit %s)",
            (keep_days * 86400, BATCH),
        )
        total += deleted
        if deleted < BATCH:
            return total


async def prune_once(db: Database, event_log: EventLog, *, outbox_keep_days: float) -> None:
    """One pass; a failure is logged and the next pass tries again."""
    try:
        runs = await event_log.prune()
        mails = await prune_outbox(db, keep_days=outbox_keep_days)
    except Exception:
        logger.warning("pruning old rows failed; trying again at the next pass", exc_info=True)
        return
    if runs or mails:
        logger.info("pruned old rows", extra={"run_streams": runs, "outbox_sent": mails})


@asynccontextmanager
async def pruning(db: Database, event_log: EventLog, *, every: float, outbox_keep_days: float) -> AsyncIterator[None]:
    """Prune now, then every ``every`` seconds, until the context exits."""
    await prune_once(db, event_log, outbox_keep_days=outbox_keep_days)

    async def loop() -> None:
        while True:
            await anyio.sleep(every)
            await prune_once(db, event_log, outbox_keep_days=outbox_keep_days)

    async with anyio.create_task_group() as group:
        group.start_soon(loop)
        try:
            yield
        finally:
            group.cancel_scope.cancel()
