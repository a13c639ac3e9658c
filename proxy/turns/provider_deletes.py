"""Provider conversations of turns whose thread was never stored, deleted until they are.

When the statement creating a first message's thread fails, the turn deletes the conversation it
made on the provider (it holds the visitor's message, and no thread of ours records it: neither a
thread's deletion nor an erasure could reach it later), once (``proxy.turns.runner``). If that
fails, the conversation is handed to this worker's :class:`ProviderDeletes`, which tries again
with growing waits (:func:`~proxy.backoff.backoff_delay`, from ``RETRY_FIRST`` doubling up to
``RETRY_CAP``) until the delete succeeds or the worker stops, logging each failure with the
provider's conversation id.

Durable when the database lets it: each one is also queued in ``provider_deletions``
(:mod:`proxy.store.provider_copies`, where deleted threads' copies wait), leased by this worker
while it retries, so other workers' drains leave it alone, and taken by them if this worker dies
(the lease runs out). At shutdown what is left is released to the next start (whose first
retention pass, as any worker's, drains it) and logged with its ids; one the database never took
(it was away throughout: often why the thread was not stored) is logged as an error, for an
operator to delete at the provider.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from proxy.backoff import backoff_delay
from proxy.store import provider_copies
from proxy.store.db import Database
from proxy.store.provider_copies import ConversationDeleter

__all__ = ("ProviderDeletes", "running_provider_deletes")

logger = logging.getLogger(__name__)

RETRY_FIRST = 2.0  # seconds before the first retry; doubles with each failure
RETRY_CAP = 300.0  # the longest wait between two tries
ATTEMPT_WAIT = 10.0  # seconds one delete (or one write of its row) may take
LEASE = 2 * RETRY_CAP  # how long other workers leave a row alone while this one retries it
CLOSE_WAIT = 5.0  # seconds the shutdown spends handing what is left to the database


@dataclass(slots=True)
class _Orphan:
    tenant: str
    provider_id: str
    engine: ConversationDeleter
    error: str
    attempts: int  # tries so far (the turn's own included)
    due: float  # when to try deleting it again
    row: int | None = None  # its row in provider_deletions, once written
    row_due: float = 0.0  # when to try writing that row again
    row_failures: int = 0

    @property
    def label(self) -> str:
        return f"{self.provider_id} (tenant {self.tenant})"


class ProviderDeletes:
    """One worker's queue of provider conversations still to delete (see the module)."""

    def __init__(self, db: Database | None, *, first: float | None = None, cap: float | None = None) -> None:
        self._db = db
        self._first = RETRY_FIRST if first is None else first
        self._cap = RETRY_CAP if cap is None else cap
        self._pending: list[_Orphan] = []
        self._changed = anyio.Event()
        self._closed = False

    @property
    def pending(self) -> list[str]:
        """The provider ids still to delete."""
        return [orphan.provider_id for orphan in self._pending]

    def put(self, tenant: str, engine: ConversationDeleter, provider_id: str, error: str) -> None:
        """Retry deleting ``provider_id``, whose first delete failed with ``error``."""
        now = anyio.current_time()
        orphan = _Orphan(tenant, provider_id, engine, error, attempts=1, due=now + self._delay(0), row_due=now)
        if self._closed:  # a turn that ended after the shutdown's cut
            logger.error(
                "could not delete the provider conversation %s of a thread never stored; the service is"
                " stopping: delete it at the provider",
                orphan.label,
                extra={"tenant": tenant, "provider_id": provider_id},
            )
            return
        self._pending.append(orphan)
        self._changed.set()

    async def run(self) -> None:
        """Retry until cancelled (:func:`running_provider_deletes` runs it)."""
        while True:
            changed = self._changed
            now = anyio.current_time()
            for orphan in list(self._pending):
                if orphan.row is None and self._db is not None and orphan.row_due <= now:
                    await self._write_row(self._db, orphan)
                if orphan.due <= now:
                    await self._retry(orphan)
            wake = min((self._next(orphan) for orphan in self._pending), default=math.inf)
            with anyio.move_on_after(max(wake - anyio.current_time(), 0.0)):
                await changed.wait()
            if changed.is_set():
                self._changed = anyio.Event()

    async def close(self) -> None:
        """Hand what is left to the database for the next start, and log it (ids and all)."""
        self._closed = True
        left, self._pending = self._pending, []
        if not left:
            return
        queued: list[_Orphan] = []
        with anyio.move_on_after(CLOSE_WAIT):
            for orphan in left:
                if self._db is None:
                    break
                try:
                    if orphan.row is not None:
                        await provider_copies.release(self._db, orphan.row)
                    else:
                        orphan.row = await provider_copies.hold(
                            self._db, orphan.tenant, orphan.provider_id, 0.0, orphan.error
                        )
                except Exception:
                    if orphan.row is None:
                        continue  # a row leased earlier still comes due when its lease runs out
                queued.append(orphan)
        lost = [orphan for orphan in left if orphan not in queued]
        _log_left(logging.WARNING, "are not deleted yet; the next start tries again", queued)
        _log_left(logging.ERROR, "could not be deleted nor queued in the database; delete them at the provider", lost)

    def _delay(self, failures: int) -> float:
        return backoff_delay(failures, first=self._first, cap=self._cap)

    def _next(self, orphan: _Orphan) -> float:
        if orphan.row is None and self._db is not None:
            return min(orphan.due, orphan.row_due)
        return orphan.due

    async def _retry(self, orphan: _Orphan) -> None:
        try:
            with anyio.fail_after(ATTEMPT_WAIT):
                await orphan.engine.delete_conversation(orphan.provider_id)
        except Exception as exc:
            orphan.attempts += 1
            orphan.error = str(exc) or type(exc).__name__
            wait = self._delay(orphan.attempts - 1)
            orphan.due = anyio.current_time() + wait
            logger.warning(
                "could not delete the provider conversation %s of a thread never stored (try %d): %s;"
                " trying again in %.1f s",
                orphan.label,
                orphan.attempts,
                orphan.error,
                wait,
                extra={"tenant": orphan.tenant, "provider_id": orphan.provider_id, "attempts": orphan.attempts},
            )
            if orphan.row is not None and self._db is not None:
                try:
                    await provider_copies.renew(self._db, orphan.row, max(LEASE, 2 * wait), orphan.error)
                except Exception:
                    logger.debug("could not renew the lease of %s", orphan.label, exc_info=True)
            return
        logger.info(
            "deleted the provider conversation %s of a thread never stored (try %d)",
            orphan.label,
            orphan.attempts + 1,
            extra={"tenant": orphan.tenant, "provider_id": orphan.provider_id, "attempts": orphan.attempts + 1},
        )
        if orphan.row is not None and self._db is not None:
            # shielded: a shutdown now must not leave the row of a conversation that is gone
            with anyio.CancelScope(shield=True), anyio.move_on_after(ATTEMPT_WAIT):
                try:
                    await provider_copies.forget(self._db, orphan.row)
                except Exception:  # its lease runs out, and a drain finds it gone (not an error)
                    logger.debug("could not remove the queued delete of %s", orphan.label, exc_info=True)
        self._pending.remove(orphan)

    async def _write_row(self, db: Database, orphan: _Orphan) -> None:
        try:
            with anyio.fail_after(ATTEMPT_WAIT):
                orphan.row = await provider_copies.hold(db, orphan.tenant, orphan.provider_id, LEASE, orphan.error)
        except Exception:
            orphan.row_failures += 1
            orphan.row_due = anyio.current_time() + self._delay(orphan.row_failures - 1)
            logger.debug("could not queue the delete of %s in the database yet", orphan.label, exc_info=True)


def _log_left(level: int, what: str, orphans: list[_Orphan]) -> None:
    """One line naming the provider conversations left at shutdown (none: no line)."""
    if orphans:
        logger.log(
            level,
            "%d provider conversation(s) of threads never stored %s: %s",
            len(orphans),
            what,
            ", ".join(orphan.label for orphan in orphans),
            extra={"provider_ids": [orphan.provider_id for orphan in orphans]},
        )


@asynccontextmanager
async def running_provider_deletes(db: Database | None) -> AsyncIterator[ProviderDeletes]:
    """A worker's :class:`ProviderDeletes`, retrying while the block runs; closed after it."""
    deletes = ProviderDeletes(db)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(deletes.run)
            try:
                yield deletes
            finally:
                group.cancel_scope.cancel()
    finally:
        # once the retries have ended: one that succeeded as the block ended removes its row first
        # (shielded), and is not named as left
        with anyio.CancelScope(shield=True):
            await deletes.close()
