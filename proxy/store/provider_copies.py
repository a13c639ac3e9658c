r"""Deleting the provider-side copies of deleted threads, once, from any number of workers.

A thread's delete statement queues its provider id in ``provider_deletions``. :func:`drain`
leases due rows (``FOR UPDATE SKIP LOCKED`` in a short statement, then a lease time), asks the
tenant's engine to delete them (Conversations API conversations, assistants threads; engines
that keep nothing do nothing), and removes the rows that are done. A worker that dies leaves a
lease that expires; a failure is retried later, at most ``MAX_ATTEMPTS`` times. Only the rows of
the tenants given (those this process has an engine for) are taken, so deployments with other
tenants that share the database leave each other's rows alone.

A conversation whose thread was never stored (:mod:`proxy.turns.provider_deletes`) is queued here
too, leased by the worker that retries it (:func:`hold`, :func:`renew`): the drains of other
workers leave it alone while it does, take it once the lease runs out (that worker died), and the
next start takes what it :func:`release`\ d at shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from proxy.backoff import backoff_delay
from proxy.store.db import Database

logger = logging.getLogger(__name__)


class ConversationDeleter(Protocol):
    """What a tenant's engine offers here (``proxy.engines.base.Engine``; the store does not import it)."""

    async def delete_conversation(self, conversation_id: str | None) -> None: ...


LEASE_SECONDS = 120
MAX_ATTEMPTS = 8
RETRY_FIRST = 30.0  # seconds; doubles with every failed attempt
RETRY_CAP = 3600.0

_CLAIM = """
update provider_deletions set lease_until = now() + make_interval(secs => %(lease)s), attempts = attempts + 1
where id in (
    select id from provider_deletions
    where (lease_until is null or lease_until < now()) and tenant = any(%(tenants)s)
      and (%(ids)s::bigint[] is null or id = any(%(ids)s))
    order by id limit %(batch)s for update skip locked
)
returning id, tenant, provider_id, attempts
"""


async def drain(
    db: Database, engines: Mapping[str, ConversationDeleter], *, batch: int = 20, ids: Sequence[int] | None = None
) -> int:
    """Delete due provider copies (all due ones, or those of ``ids``); return how many were done."""
    done = 0
    while True:
        rows = await db.fetch_all(
            _CLAIM,
            {
                "lease": LEASE_SECONDS,
                "batch": batch,
                "ids": list(ids) if ids is not None else None,
                "tenants": list(engines),
            },
        )
        if not rows:
            return done
        for row in rows:
            try:
                await engines[row["tenant"]].delete_conversation(row["provider_id"])
            except Exception as exc:
                retry_in = backoff_delay(row["attempts"], first=RETRY_FIRST, cap=RETRY_CAP)
                if row["attempts"] < MAX_ATTEMPTS:
                    await db.execute(
                        "update provider_deletions set last_error = %s,"
                        " lease_until = now() + make_interval(secs => %s) where id = %s",
                        (repr(exc)[:500], retry_in, row["id"]),
                    )
                    continue
                logger.error(
                    "gave up deleting a provider-side conversation",
                    extra={"tenant": row["tenant"], "attempts": row["attempts"], "error": repr(exc)},
                )
            await db.execute("delete from provider_deletions where id = %s", (row["id"],))
            done += 1
        if len(rows) < batch:
            return done


async def hold(db: Database, tenant: str, provider_id: str, lease: float, error: str) -> int:
    """Queue ``provider_id`` leased for ``lease`` seconds by the caller, who retries it; its row's id."""
    row = await db.fetch_one(
        "insert into provider_deletions (tenant, provider_id, lease_until, last_error)"
        " values (%s, %s, now() + make_interval(secs => %s), %s) returning id",
        (tenant, provider_id, lease, error[:500]),
    )
    assert row is not None
    return int(row["id"])


async def renew(db: Database, row_id: int, lease: float, error: str) -> None:
    await db.execute(
        "update provider_deletions set lease_until = now() + make_interval(secs => %s), last_error = %s where id = %s",
        (lease, error[:500], row_id),
    )


async def release(db: Database, row_id: int) -> None:
    """Due at once for any worker's drain (the next start's first)."""
    await db.execute("update provider_deletions set lease_until = null where id = %s", (row_id,))


async def forget(db: Database, row_id: int) -> None:
    """The copy is deleted: the row goes."""
    await db.execute("delete from provider_deletions where id = %s", (row_id,))
