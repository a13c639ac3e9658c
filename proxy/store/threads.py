"""Threads and their history in Postgres, and the per-thread turn lock.

The lock is a lease on the thread row (``active_run`` + ``locked_until``), so it holds across
workers and instances and frees itself if a process dies mid-turn. Every statement that reads or
writes those columns is here or in the modules this one runs them from
(:mod:`proxy.store.turn_starts`, :mod:`proxy.store.turn_ends`): taking the lock, renewing it,
releasing it, freeing lapsed ones, and asking which run holds a thread (or which thread a run holds).

A turn costs two statements: :meth:`ThreadStore.lock` takes the lock, stores the visitor's
message and reads the history before it (for a thread's first message, :meth:`ThreadStore.create_locked`
creates the thread locked, with the message, in one statement with the first messages that arrive
meanwhile); :meth:`ThreadStore.finish_turn` saves the reply and the turn's token usage and releases
the lock. The store calls nothing back: ``finish_turn`` tells its caller when the write has to wait,
and the caller decides what to do meanwhile.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence

from proxy.engines.base import HistoryMessage
from proxy.store.arrays import array_literal
from proxy.store.batching import Batcher
from proxy.store.db import Connection, Database
from proxy.store.thread_records import (
    COLUMNS,
    EndStep,
    HeldThread,
    Lease,
    LockedThread,
    LockResult,
    StoredMessage,
    ThreadRecord,
    free_of_turns,
    new_id,
)
from proxy.store.turn_ends import FINISH_DEADLINE, PROMPT_WAIT, TurnEnds
from proxy.store.turn_starts import NEW_TURNS, OPEN_TURN, NewTurn, new_turns_params
from proxy.usage.store import UsageEntry
from proxy.visitors import Visitor

# Renewing the leases of the turns running in one process, with each one's reply so far (a null
# draft keeps the one written before) and the thread's new provider id, if any (a conversation the
# turn created: kept should its worker die before the turn's end saves it). Returns the runs that
# still hold their thread.
_RENEW = """
update threads t set locked_until = now() + make_interval(secs => %(lease)s), draft = coalesce(v.draft, t.draft),
    provider_id = coalesce(v.provider_id, t.provider_id)
from unnest(%(threads)s::text[], %(runs)s::text[], %(drafts)s::text[], %(providers)s::text[])
    as v(thread_id, run_id, draft, provider_id)
where t.id = v.thread_id and t.active_run = v.run_id
returning t.active_run as run_id
"""

# Freeing threads whose lease lapsed (their worker died): the draft becomes the reply.
_REAP = """
with lapsed as (
    select id, active_run, draft from threads
    where active_run is not null and locked_until < now()
    order by locked_until limit %(limit)s
    for update skip locked
), kept as (
    insert into messages (thread_id, role, content, run_id)
    select l.id, 'assistant', l.draft, l.active_run from lapsed l
    where l.draft <> '' and not exists (
        select from messages m where m.thread_id = l.id and m.run_id = l.active_run and m.role = 'assistant')
)
update threads t set active_run = null, locked_until = null, draft = null
from lapsed l where t.id = l.id
returning l.id as thread_id, l.active_run as run_id
"""


class ThreadStore:
    """Threads, their history and turn locks.

    Ending turns (:meth:`finish_turn`) use at most ``finish_slots`` pooled connections at once
    (default: half the pool) and are retried for up to ``finish_deadline`` seconds: see
    :class:`~proxy.store.turn_ends.TurnEnds`.
    """

    def __init__(
        self, db: Database, *, finish_slots: int | None = None, finish_deadline: float = FINISH_DEADLINE
    ) -> None:
        self.db = db
        self._ends = TurnEnds(db, slots=finish_slots or max(1, db.pool.max_size // 2), deadline=finish_deadline)
        self._new_turns: Batcher[NewTurn, LockedThread] = Batcher(self._create_locked)

    async def create(self, *, tenant: str, visitor: Visitor, engine: str) -> ThreadRecord:
        row = await self.db.fetch_one(
            "insert into threads (id, tenant, visitor, visitor_kind, visitor_user_id, visitor_email, engine)"
            f" values (%s, %s, %s, %s, %s, %s, %s) returning {COLUMNS}",
            (new_id("thr"), tenant, visitor.binding, visitor.kind, visitor.user_id, visitor.email, engine),
        )
        assert row is not None
        return ThreadRecord.from_row(row)

    async def create_locked(self, new: NewTurn) -> LockedThread:
        """A new thread, its turn lock taken by ``new.run_id`` and the visitor's message stored: one
        round trip for what :meth:`create` then :meth:`lock` do for a thread's first message,
        shared with the first messages that arrive meanwhile (:class:`~proxy.store.batching.Batcher`)."""
        return await self._new_turns.call(new)

    async def _create_locked(self, asked: Sequence[NewTurn]) -> list[LockedThread]:
        rows = await self.db.fetch_all(NEW_TURNS, new_turns_params(asked))
        found = {row["id"]: row for row in rows}
        return [
            LockedThread.from_row(row, user_message_id=row["user_message_id"], history=())
            for row in (found[new.thread_id] for new in asked)
        ]

    async def get(self, thread_id: str, *, tenant: str, visitor: str | None) -> ThreadRecord | None:
        """The thread if this tenant (and visitor, when the thread is bound to one) owns it."""
        row = await self.db.fetch_one(
            f"select {COLUMNS} from threads where id = %s and tenant = %s"
            " and (visitor is null or visitor is not distinct from %s)",
            (thread_id, tenant, visitor),
        )
        return ThreadRecord.from_row(row) if row else None

    async def lock(
        self,
        thread_id: str,
        *,
        tenant: str,
        visitor: str | None,
        user_id: str | None = None,
        run_id: str,
        lease_seconds: float,
        user_text: str | None = None,
        history: int = 0,
        for_holder: bool = False,
    ) -> tuple[LockResult, ThreadRecord | HeldThread | None]:
        """Take the thread's turn lock in one round trip, telling busy from missing.

        ``visitor`` is the thread's binding the caller presents, ``user_id`` the signed-in user this
        request proved (a user's thread is missing to anyone else). With ``user_text``, the
        visitor's message is stored in the same statement, only if the lock was taken; with
        ``history``, up to that many messages before it are read too. Acquired, the record is a
        :class:`LockedThread`; busy, the thread as it was.

        A thread a person of the staff holds takes no turn: busy, or with ``for_holder`` ``held``,
        the message stored for that person in the same statement (:class:`HeldThread`).
        """
        row = await self.db.fetch_one(
            OPEN_TURN,
            {
                "thread": thread_id,
                "tenant": tenant,
                "visitor": visitor,
                "user": user_id,
                "run": run_id,
                "lease": lease_seconds,
                "text": user_text,
                "history": max(0, history),
                "for_holder": for_holder,
            },
        )
        if row is None:
            return "missing", None
        if not row["acquired"]:
            if for_holder and row["takeover_id"] is not None:
                return "held", HeldThread(
                    row["id"],
                    row["takeover_id"],
                    row["staff_id"],
                    row["staff_name"],
                    row["held_since"],
                    row["user_message_id"],
                )
            return "busy", ThreadRecord.from_row(row)
        read: tuple[HistoryMessage, ...] | None = None
        if history > 0:
            read = tuple(HistoryMessage(role, content) for role, content in row["history"] or ())
        briefing = tuple((role, content, author) for role, content, author in row["briefing"] or ())
        return "acquired", LockedThread.from_row(
            row,
            user_message_id=row["user_message_id"],
            history=read,
            abandoned_run=row["abandoned_run"],
            briefing=briefing,
        )

    async def renew(self, leases: Sequence[Lease], lease_seconds: float) -> set[str]:
        """Extend the leases of running turns (writing their drafts); the runs still holding theirs."""
        if not leases:
            return set()
        rows = await self.db.fetch_all(
            _RENEW,
            {
                "lease": lease_seconds,
                "threads": array_literal([lease.thread_id for lease in leases]),
                "runs": array_literal([lease.run_id for lease in leases]),
                "drafts": array_literal([lease.draft for lease in leases]),
                "providers": array_literal([lease.provider_id for lease in leases]),
            },
        )
        return {row["run_id"] for row in rows}

    async def reap(self, limit: int = 100) -> list[tuple[str, str]]:
        """Free threads whose lease lapsed, keeping each dead turn's draft as its reply.

        Returns (thread_id, run_id) of the turns that ended so.
        """
        rows = await self.db.fetch_all(_REAP, {"limit": limit})
        return [(row["thread_id"], row["run_id"]) for row in rows]

    async def active_run(self, thread_id: str) -> str | None:
        """The run holding the thread (its lease not lapsed), if any."""
        row = await self.db.fetch_one(
            "select active_run from threads where id = %s and locked_until >= now()", (thread_id,)
        )
        return row["active_run"] if row else None

    async def held_by(self, run_id: str, *, conn: Connection | None = None) -> str | None:
        """The thread ``run_id`` holds with a lease not lapsed (the run is live on some worker).

        ``conn``: ask within the caller's transaction (the event log reads a run's state so).
        """
        query = "select id from threads where active_run = %s and locked_until > now() limit 1"
        if conn is None:
            row = await self.db.fetch_one(query, (run_id,))
        else:
            row = await (await conn.execute(query, (run_id,))).fetchone()
        return row["id"] if row else None

    async def delete(self, thread_id: str) -> None:
        await self.db.execute("delete from threads where id = %s", (thread_id,))

    async def add_message(self, thread_id: str, role: str, content: str, run_id: str | None = None) -> None:
        await self.db.execute(
            "insert into messages (thread_id, role, content, run_id) values (%s, %s, %s, %s)",
            (thread_id, role, content, run_id),
        )

    def finish_turn(
        self,
        thread_id: str,
        run_id: str,
        reply: str,
        *,
        usage: UsageEntry | None = None,
        provider_id: str | None = None,
    ) -> AsyncGenerator[EndStep, None]:
        """Save the reply (or its finished part) and the turn's usage, and release the lock.

        ``provider_id``, when given, replaces the thread's provider id (where the provider's
        context goes on from, e.g. the last response of a chain).

        One statement, committed once. Retried (see the class) until it succeeds or the deadline
        passes. Yields ``waiting``, once, as soon as the write has to wait: for other turns' ends
        queued before it, or for a pooled connection longer than ``prompt_wait``; then ``saved``,
        or ``lost`` if given up (logged; the lease then expires by itself). Never raises.
        """
        return self._ends.finish(thread_id, run_id, reply, usage=usage, provider_id=provider_id)

    async def messages(
        self, thread_id: str, *, limit: int = 200, newest_first: bool = False, before: int | None = None
    ) -> list[StoredMessage]:
        """The last ``limit`` messages (those older than message ``before``), oldest first unless ``newest_first``."""
        rows = await self.db.fetch_all(
            "select id, role, content, run_id, created_at, author from messages where thread_id = %s"
            + (" and id < %s" if before is not None else "")
            + " order by id desc limit %s",
            (thread_id, before, limit) if before is not None else (thread_id, limit),
        )
        if not newest_first:
            rows.reverse()
        return [
            StoredMessage(r["id"], r["role"], r["content"], r["run_id"], r["created_at"], r["author"]) for r in rows
        ]

    async def history(self, thread_id: str, *, limit: int, before: int | None = None) -> list[HistoryMessage]:
        """The last ``limit`` messages (before message ``before``) as the chat engine sends them, oldest first."""
        return [HistoryMessage(m.role, m.content) for m in await self.messages(thread_id, limit=limit, before=before)]


__all__ = (
    "FINISH_DEADLINE",
    "PROMPT_WAIT",
    "EndStep",
    "HeldThread",
    "Lease",
    "LockResult",
    "LockedThread",
    "NewTurn",
    "StoredMessage",
    "ThreadRecord",
    "ThreadStore",
    "free_of_turns",
    "new_id",
)
