"""Ending a turn: its reply, its token usage and the release of its thread, in one statement,
retried until it succeeds or a deadline passes, without holding up the turn's stream for long."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from psycopg import OperationalError
from psycopg_pool import PoolClosed, PoolTimeout

from proxy.backoff import Backoff
from proxy.store.arrays import array_literal
from proxy.store.batching import Batcher
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

# The first attempts of the turns that end together, in one statement (see proxy.store.batching):
# ``FINISH_TURN`` for each, without ``retry`` (a first attempt is never a repeat), the usage of
# entries of one shard row added up first (a statement may change a row once).
FINISH_TURNS = """
with asked as (
    select * from unnest(%(threads)s::text[], %(runs)s::text[], %(replies)s::text[], %(providers)s::text[])
        as a(thread_id, run_id, reply, provider_id)
), released as (
    update threads t set active_run = null, locked_until = null, draft = null,
        provider_id = coalesce(a.provider_id, t.provider_id)
    from asked a where t.id = a.thread_id and t.active_run = a.run_id
    returning t.id
), reply as (
    insert into messages (thread_id, role, content, run_id)
    select a.thread_id, 'assistant', a.reply, a.run_id from asked a
    where a.reply <> '' and exists (select from threads t where t.id = a.thread_id)
      and not exists (  -- its lease lapsed and the draft was kept already
          select from messages m where m.thread_id = a.thread_id and m.run_id = a.run_id and m.role = 'assistant')
), usage as (
    insert into usage_daily (tenant, day, model, shard, input_tokens, output_tokens, turns)
    select tenant, day, model, shard, sum(input_tokens)::bigint, sum(output_tokens)::bigint, sum(turns)::int
    from unnest(%(u_tenants)s::text[], %(u_days)s::date[], %(u_models)s::text[], %(u_shards)s::smallint[],
        %(u_inputs)s::bigint[], %(u_outputs)s::bigint[], %(u_turns)s::int[])
        as u(tenant, day, model, shard, input_tokens, output_tokens, turns)
    group by tenant, day, model, shard
    on conflict (tenant, day, model, shard) do update set
        input_tokens = usage_daily.input_tokens + excluded.input_tokens,
        output_tokens = usage_daily.output_tokens + excluded.output_tokens,
        turns = usage_daily.turns + excluded.turns,
        updated_at = now()
)
select count(*) from released
"""


@dataclass(frozen=True, slots=True)
class TurnEnd:
    thread_id: str
    run_id: str
    reply: str
    usage: UsageEntry | None
    provider_id: str | None


def finish_turns_params(ends: Sequence[TurnEnd]) -> dict[str, Any]:
    """:data:`FINISH_TURNS`' parameters: the turns' arrays, and the arrays of those with usage."""
    used = [end.usage for end in ends if end.usage is not None]
    return {
        "threads": array_literal([end.thread_id for end in ends]),
        "runs": array_literal([end.run_id for end in ends]),
        "replies": array_literal([end.reply for end in ends]),
        "providers": array_literal([end.provider_id for end in ends]),
        "u_tenants": array_literal([u.tenant for u in used]),
        "u_days": array_literal([u.day for u in used]),
        "u_models": array_literal([u.model for u in used]),
        "u_shards": array_literal([u.shard for u in used]),
        "u_inputs": array_literal([u.input_tokens for u in used]),
        "u_outputs": array_literal([u.output_tokens for u in used]),
        "u_turns": array_literal([u.turns for u in used]),
    }


class TurnEnds:
    """Ends turns (:meth:`finish`), using at most ``slots`` pooled connections at once.

    A turn's first attempt joins the turns ending at the same time in one statement (on at most
    two connections: :class:`~proxy.store.batching.Batcher`). A write that fails for want of a
    connection or on a transient error is retried alone until ``deadline`` seconds have passed,
    among at most ``slots`` at once: when many turns end together (a deploy, a network blip
    dropping a thousand streams) they wait their turn here rather than time out in the pool, and
    new turns still find a connection.
    """

    # a first attempt to end a turn waits this long for a connection before the stream is closed
    # without waiting for the write any longer
    prompt_wait = PROMPT_WAIT

    def __init__(self, db: Database, *, slots: int, deadline: float = FINISH_DEADLINE) -> None:
        self.db = db
        self.finish_slots = slots
        self.finish_deadline = deadline
        self._finishing: anyio.CapacityLimiter | None = None
        self._firsts: Batcher[TurnEnd, None] = Batcher(self._finish_together)

    async def _finish_together(self, ends: Sequence[TurnEnd]) -> list[None]:
        async with self.db.connection(timeout=self.prompt_wait) as conn:
            await conn.execute(FINISH_TURNS, finish_turns_params(ends))
        return [None] * len(ends)

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
        # the first attempt joins a batch, unless ends wait for a slot already (a congested pool)
        together = self._finishing.available_tokens >= 1
        if not together:
            waited = True
            yield "waiting"
        backoff = Backoff(self.finish_deadline)
        attempt = 0
        warned = False
        holding = False  # a slot of the limiter: for every attempt but a batched first one
        try:
            while True:
                attempt += 1
                wait = min(self.db.pool.timeout, max(backoff.remaining(), 0.01))
                if not waited:
                    wait = min(wait, self.prompt_wait)
                sent = False
                outcome: EndStep | None = None
                try:
                    if together:
                        together = False
                        sent = True  # (but for PoolTimeout: the batch may have been sent)
                        await self._firsts.call(TurnEnd(thread_id, run_id, reply, usage, provider_id))
                    else:
                        if not holding:
                            await self._finishing.acquire()
                            holding = True
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
        finally:
            if holding:
                self._finishing.release()
