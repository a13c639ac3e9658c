"""Ending a turn: its reply, its token usage and the release of its thread, in one statement,
retried until it succeeds or a deadline passes, without holding up the turn's stream for long."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

import anyio
from psycopg import OperationalError
from psycopg_pool import PoolClosed, PoolTimeout

from proxy.backoff import Backoff
from proxy.store.db import Database
from proxy.store.thread_records import EndStep
from proxy.usage.store import UsageEntry, upsert_sql

logger = logging.getLogger(__name__)

PROMPT_WAIT = 0.5  # seconds the first attempt to end a turn waits for a connection before `done` goes out
FINISH_DEADLINE = 300.0  # seconds the end of a turn (reply, usage, release) is retried before it is given up

# One statement: the reply, the turn's usage and the release, committed together (and flushed).
# ``retry`` is set when an earlier attempt failed after the statement was sent, so it may have
# been committed: then the reply and usage are written only if the lock is still this run's,
# which proves the earlier attempt did not commit. A turn whose lease lapsed while it ran (its
# worker stalled) and whose draft was stored by whoever took the thread over adds no second reply.
FINISH_TURN = """
with released as (
    update threads set active_run = null, locked_until = null, draft = null,
        provider_id = coalesce(%(provider)s, provider_id)
    where id = %(thread)s and active_run = %(run)s
    returning id
), first_time as (
    select not %(retry)s or exists (select from released) as yes
), reply as (
    insert into messages (thread_id, role, content, run_id)
    select id, 'assistant', %(reply)s, %(run)s from threads
    where id = %(thread)s and %(reply)s <> '' and (select yes from first_time)
      and not exists (  -- its lease lapsed and the draft was kept already
          select from messages m where m.thread_id = %(thread)s and m.run_id = %(run)s and m.role = 'assistant')
){usage}
select exists (select from released) as released
"""
FINISH_TURN_WITH_USAGE = FINISH_TURN.format(usage=f", usage as ({upsert_sql('(select yes from first_time)')})")
FINISH_TURN = FINISH_TURN.format(usage="")


class TurnEnds:
    """Ends turns (:meth:`finish`), using at most ``slots`` pooled connections at once.

    When many turns end together (a deploy, a network blip dropping a thousand streams) they wait
    their turn here rather than time out in the pool, and new turns still find a connection. A
    write that fails for want of a connection or on a transient error is retried until
    ``deadline`` seconds have passed.
    """

    # a first attempt to end a turn waits this long for a connection before the stream is closed
    # without waiting for the write any longer
    prompt_wait = PROMPT_WAIT

    def __init__(self, db: Database, *, slots: int, deadline: float = FINISH_DEADLINE) -> None:
        self.db = db
        self.finish_slots = slots
        self.finish_deadline = deadline
        self._finishing: anyio.CapacityLimiter | None = None

    async def finish(
        self,
        thread_id: str,
        run_id: str,
        reply: str,
        *,
        usage: UsageEntry | None = None,
        provider_id: str | None = None,
    ) -> AsyncGenerator[EndStep, None]:
        """See :meth:`proxy.store.threads.ThreadStore.finish_turn`."""
        waited = False
        params: dict[str, Any] = {
            "thread": thread_id,
            "run": run_id,
            "reply": reply,
            "retry": False,
            "provider": provider_id,
        }
        query = FINISH_TURN
        if usage is not None:
            params.update(usage.params())
            query = FINISH_TURN_WITH_USAGE
        if self._finishing is None:
            self._finishing = anyio.CapacityLimiter(self.finish_slots)
        if self._finishing.available_tokens < 1:
            waited = True
            yield "waiting"
        backoff = Backoff(self.finish_deadline)
        attempt = 0
        warned = False
        async with self._finishing:
            while True:
                attempt += 1
                wait = min(self.db.pool.timeout, max(backoff.remaining(), 0.01))
                if not waited:
                    wait = min(wait, self.prompt_wait)
                sent = False
                outcome: EndStep | None = None
                try:
                    async with self.db.connection(timeout=wait) as conn:
                        sent = True
                        await conn.execute(query, params)
                    outcome = "saved"
                except PoolClosed:
                    logger.error("could not save the end of a turn: the database is closed", extra={"run_id": run_id})
                    outcome = "lost"
                except OperationalError as exc:
                    # no connection (PoolTimeout), a lost connection, or an error the database
                    # reported (the statement then rolled back): all worth another attempt
                    if sent and exc.sqlstate is None and not isinstance(exc, PoolTimeout):
                        params["retry"] = True  # the connection broke: the commit may have happened
                    failure: Exception = exc
                except Exception:
                    logger.exception("could not save the end of a turn", extra={"run_id": run_id})
                    outcome = "lost"
                if outcome is not None:
                    yield outcome
                    return
                if backoff.exhausted():
                    if not waited:
                        yield "waiting"
                    logger.error(
                        "could not save the end of a turn: gave up",
                        extra={"run_id": run_id, "attempts": attempt, "error": repr(failure)},
                    )
                    yield "lost"
                    return
                if not warned and (waited or not isinstance(failure, PoolTimeout)):
                    warned = True  # (not for a first, short wait for a connection: that is routine)
                    logger.warning(
                        "saving the end of a turn is delayed; retrying",
                        extra={"run_id": run_id, "error": repr(failure)},
                    )
                if not waited:
                    waited = True
                    yield "waiting"
                await backoff.wait()
