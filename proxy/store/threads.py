"""Threads and their history in Postgres, and the per-thread turn lock.

The lock is a lease on the thread row (``active_run`` + ``locked_until``), so it holds across
workers and instances and frees itself if a process dies mid-turn. Every statement that reads or
writes those columns is here: taking the lock, renewing it, releasing it, freeing lapsed ones, and
asking which run holds a thread (or which thread a run holds).

A turn costs two statements: :meth:`ThreadStore.lock` takes the lock, stores the visitor's
message and reads the history before it (for a thread's first message, :meth:`ThreadStore.create_locked`
creates the thread locked, with the message); :meth:`ThreadStore.finish_turn` saves the reply and the
turn's token usage and releases the lock. The store calls nothing back: ``finish_turn`` tells
its caller when the write has to wait, and the caller decides what to do meanwhile.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Self

import anyio
from psycopg import OperationalError
from psycopg_pool import PoolClosed, PoolTimeout

from proxy.backoff import Backoff
from proxy.engines.base import HistoryMessage
from proxy.store.batching import Batcher
from proxy.store.db import Connection, Database
from proxy.usage.store import UsageEntry, upsert_sql
from proxy.visitors import Visitor

logger = logging.getLogger(__name__)

PROMPT_WAIT = 0.5  # seconds the first attempt to end a turn waits for a connection before `done` goes out
FINISH_DEADLINE = 300.0  # seconds the end of a turn (reply, usage, release) is retried before it is given up


def new_id(prefix: str) -> str:
    """Unguessable ids of our own (never the provider's)."""
    return f"{prefix}_{secrets.token_urlsafe(18)}"


@dataclass(frozen=True, slots=True)
class ThreadRecord:
    id: str
    tenant: str
    visitor: str | None
    engine: str
    provider_id: str | None
    created_at: datetime
    visitor_kind: str = "anonymous"
    visitor_user_id: str | None = None
    visitor_email: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any], **extra: Any) -> Self:
        return cls(
            row["id"],
            row["tenant"],
            row["visitor"],
            row["engine"],
            row["provider_id"],
            row["created_at"],
            row["visitor_kind"],
            row["visitor_user_id"],
            row["visitor_email"],
            **extra,
        )

    @property
    def owner(self) -> Visitor:
        """The visitor the thread was created for, as verified then."""
        return Visitor(self.visitor, self.visitor_kind, self.visitor_user_id, self.visitor_email)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class LockedThread(ThreadRecord):
    """A thread whose turn lock was just taken, with what the same statement stored and read.

    ``user_message_id``: the visitor's message, stored with the lock (None if none was given).
    ``history``: the last messages before it, oldest first (None if not asked for).
    """

    user_message_id: int | None = None
    history: tuple[HistoryMessage, ...] | None = None
    abandoned_run: str | None = None  # the run of a dead worker whose lapsed lease was taken over
    # what was said while a person of the staff held the thread, not yet told to the assistant:
    # (role, content, author) oldest first; see proxy.console.takeover
    briefing: tuple[tuple[str, str, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class HeldThread:
    """A thread a person of the staff holds (see :mod:`proxy.console.takeover`), as the statement
    that was to open a turn found it; ``user_message_id``: the visitor's message, stored for them."""

    thread_id: str
    takeover_id: int
    staff_id: str
    staff_name: str
    since: datetime
    user_message_id: int | None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    role: Literal["user", "assistant"]
    content: str
    run_id: str | None
    created_at: datetime
    author: str | None = None  # a person of the staff wrote it (role "assistant")


LockResult = Literal["acquired", "busy", "held", "missing"]

EndStep = Literal["waiting", "saved", "lost"]
"""What :meth:`ThreadStore.finish_turn` reports: ``waiting`` (at most once, as soon as the write has
to wait), then ``saved`` or ``lost`` (given up: the lease expires by itself), last."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A running turn's hold on its thread; ``draft``: its reply so far, None if unchanged;
    ``provider_id``: the thread's new provider id, if the turn has one (None keeps the stored one)."""

    thread_id: str
    run_id: str
    draft: str | None = None
    provider_id: str | None = None


def free_of_turns(table: str = "threads") -> str:
    """SQL true for a row of ``table`` (a name or alias of ``threads``) no live turn holds: for
    statements elsewhere that must skip busy threads in the same statement (deleting, pruning)."""
    return f"({table}.active_run is null or {table}.locked_until < now())"


_COLUMNS = "id, tenant, visitor, engine, provider_id, created_at, visitor_kind, visitor_user_id, visitor_email"

# One statement, one round trip: the lease, the visitor's message and the history before it.
# ``seen`` is the thread in the statement's snapshot (none: not this caller's thread: another
# tenant's, another visitor's, or a signed-in user's that this request's user is not); ``holder``
# the person of the staff holding it, if one does (no turn then: with ``for_holder`` the message is
# stored for them instead, which the same statement reports); ``locked``
# the lease, taken only on that same version of the row (none: busy). The history is read in the
# snapshot, so it excludes the message stored here. Were the row changed after the snapshot was
# taken (an expired turn's late end, releasing the lock while its reply is being written), the
# snapshot would miss that reply: the ``xmin`` check then makes it a busy thread instead.
# A lease that lapsed (its worker died without releasing it) is taken over: the dead turn's reply so
# far (``draft``, written with each renewal) is stored before the new message, in that order.
# The commit does not wait for the disk (``synchronous_commit`` applies as set when a transaction
# commits, and here it is set for this one only): a lease lost in a database crash frees itself,
# and the message is made durable by the turn's final commit, which does wait, as the log is
# flushed in order. A crash of the database in the fraction of a second before that flush can
# lose the message of a turn whose reply could not be saved either. A message kept for the person
# holding the thread has no turn to follow: it commits as any other statement does.
_OPEN_TURN = f"""
with seen as (
    select {_COLUMNS}, xmin, active_run as held_by, draft as held_draft from threads
    where id = %(thread)s and tenant = %(tenant)s and (visitor is null or visitor is not distinct from %(visitor)s)
      and (visitor_user_id is null or visitor_user_id = %(user)s)
), holder as (
    -- a person of the staff holds the thread: no turn (see proxy.console.takeover)
    select k.id, k.staff_id, k.staff_name, k.started_at from takeovers k
    where k.thread_id = (select id from seen) and k.ended_at is null
), quick as (
    select set_config('synchronous_commit',
        case when exists (select from holder) then current_setting('synchronous_commit') else 'off' end, true
    ) as setting
), locked as (
    update threads set active_run = %(run)s, locked_until = now() + make_interval(secs => %(lease)s), draft = null
    where id = (select id from seen) and xmin = (select xmin from seen)
      and (active_run is null or locked_until < now()) and (select setting from quick) is not null
      and not exists (select from holder)
    returning id
), posted as (
    insert into messages (thread_id, role, content, run_id)
    select thread_id, role, content, run_id from (
        select seen.id as thread_id, 'assistant' as role, seen.held_draft as content, seen.held_by as run_id, 1 as place
        from seen join locked on locked.id = seen.id
        where seen.held_by is not null and seen.held_draft <> ''
        union all
        select id, 'user', %(text)s, %(run)s, 2 from locked where %(text)s::text is not null
        union all  -- held: kept for the person holding the thread, with no turn
        select seen.id, 'user', %(text)s, null, 2 from seen, holder
        where %(for_holder)s and %(text)s::text is not null
    ) taken order by place
    returning id, role
), told as (
    update takeovers set briefed = true
    where thread_id = (select id from locked) and ended_at is not null and not briefed
    returning from_message, to_message
)
select seen.*, locked.id is not null as acquired,
    (select id from posted where role = 'user') as user_message_id,
    holder.id as takeover_id, holder.staff_id, holder.staff_name, holder.started_at as held_since,
    case when locked.id is not null then seen.held_by end as abandoned_run,
    (select json_agg(json_build_array(b.role, b.content, b.author) order by b.id) from (
        select m.id, m.role, m.content, m.author from messages m, told
        where m.thread_id = locked.id and m.id > told.from_message and m.id <= told.to_message
    ) b) as briefing,
    (select json_agg(json_build_array(h.role, h.content) order by h.id) from (
        select m.id, m.role, m.content from messages m
        where m.thread_id = locked.id order by m.id desc limit %(history)s
    ) h) as history
from seen left join locked on true left join holder on true
"""

# First messages that create their threads, in one statement for all that arrived together (see
# proxy.store.batching): each thread, born locked for its turn (the same lease as ``_OPEN_TURN``'s),
# and its visitor's message. A new thread has no history, no takeover and no lapsed lease to take
# over. The commit does not wait for the disk, as in ``_OPEN_TURN``: each turn's final commit,
# which does, makes its own durable.
_NEW_TURNS = f"""
with quick as (
    select set_config('synchronous_commit', 'off', true) as setting
), asked as (
    select * from unnest(%(threads)s::text[], %(tenants)s::text[], %(visitors)s::text[], %(kinds)s::text[],
        %(users)s::text[], %(emails)s::text[], %(engines)s::text[], %(runs)s::text[], %(texts)s::text[],
        %(leases)s::float8[]) as a(id, tenant, visitor, kind, user_id, email, engine, run, text, lease)
), created as (
    insert into threads (
        id, tenant, visitor, visitor_kind, visitor_user_id, visitor_email, engine, active_run, locked_until)
    select a.id, a.tenant, a.visitor, a.kind, a.user_id, a.email, a.engine, a.run,
        now() + make_interval(secs => a.lease)
    from asked a, quick where quick.setting is not null
    returning {_COLUMNS}
), posted as (
    insert into messages (thread_id, role, content, run_id)
    select a.id, 'user', a.text, a.run from asked a join created c on c.id = a.id
    returning id, thread_id
)
select created.*, posted.id as user_message_id from created join posted on posted.thread_id = created.id
"""


@dataclass(frozen=True, slots=True)
class NewTurn:
    """A thread's first message, to be created with its thread locked for the turn."""

    thread_id: str
    tenant: str
    visitor: Visitor
    engine: str
    run_id: str
    lease_seconds: float
    user_text: str


# One statement: the reply, the turn's usage and the release, committed together (and flushed).
# ``retry`` is set when an earlier attempt failed after the statement was sent, so it may have
# been committed: then the reply and usage are written only if the lock is still this run's,
# which proves the earlier attempt did not commit. A turn whose lease lapsed while it ran (its
# worker stalled) and whose draft was stored by whoever took the thread over adds no second reply.
_FINISH_TURN = """
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
_FINISH_TURN_WITH_USAGE = _FINISH_TURN.format(usage=f", usage as ({upsert_sql('(select yes from first_time)')})")
_FINISH_TURN = _FINISH_TURN.format(usage="")

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
    (default: half the pool), so when many turns end together (a deploy, a network blip dropping
    a thousand streams) they wait their turn here rather than time out in the pool, and new turns
    still find a connection. A write that fails for want of a connection or on a transient error
    is retried until ``finish_deadline`` seconds have passed.
    """

    # a first attempt to end a turn waits this long for a connection before the stream is closed
    # without waiting for the write any longer
    prompt_wait = PROMPT_WAIT

    def __init__(
        self, db: Database, *, finish_slots: int | None = None, finish_deadline: float = FINISH_DEADLINE
    ) -> None:
        self.db = db
        self.finish_slots = finish_slots or max(1, db.pool.max_size // 2)
        self.finish_deadline = finish_deadline
        self._finishing: anyio.CapacityLimiter | None = None
        self._new_turns: Batcher[NewTurn, LockedThread] = Batcher(self._create_locked)

    async def create(self, *, tenant: str, visitor: Visitor, engine: str) -> ThreadRecord:
        row = await self.db.fetch_one(
            "insert into threads (id, tenant, visitor, visitor_kind, visitor_user_id, visitor_email, engine)"
            f" values (%s, %s, %s, %s, %s, %s, %s) returning {_COLUMNS}",
            (new_id("thr"), tenant, visitor.binding, visitor.kind, visitor.user_id, visitor.email, engine),
        )
        assert row is not None
        return ThreadRecord.from_row(row)

    async def create_locked(
        self,
        thread_id: str,
        *,
        tenant: str,
        visitor: Visitor,
        engine: str,
        run_id: str,
        lease_seconds: float,
        user_text: str,
    ) -> LockedThread:
        """A new thread, its turn lock taken by ``run_id`` and the visitor's message stored: one
        round trip for what :meth:`create` then :meth:`lock` do for a thread's first message,
        shared with the first messages that arrive meanwhile (:class:`~proxy.store.batching.Batcher`)."""
        return await self._new_turns.call(NewTurn(thread_id, tenant, visitor, engine, run_id, lease_seconds, user_text))

    async def _create_locked(self, asked: Sequence[NewTurn]) -> list[LockedThread]:
        rows = await self.db.fetch_all(
            _NEW_TURNS,
            {
                "threads": [new.thread_id for new in asked],
                "tenants": [new.tenant for new in asked],
                "visitors": [new.visitor.binding for new in asked],
                "kinds": [new.visitor.kind for new in asked],
                "users": [new.visitor.user_id for new in asked],
                "emails": [new.visitor.email for new in asked],
                "engines": [new.engine for new in asked],
                "runs": [new.run_id for new in asked],
                "texts": [new.user_text for new in asked],
                "leases": [new.lease_seconds for new in asked],
            },
        )
        found = {row["id"]: row for row in rows}
        return [
            LockedThread.from_row(row, user_message_id=row["user_message_id"], history=())
            for row in (found[new.thread_id] for new in asked)
        ]

    async def get(self, thread_id: str, *, tenant: str, visitor: str | None) -> ThreadRecord | None:
        """The thread if this tenant (and visitor, when the thread is bound to one) owns it."""
        row = await self.db.fetch_one(
            f"select {_COLUMNS} from threads where id = %s and tenant = %s"
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
            _OPEN_TURN,
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
                "threads": [lease.thread_id for lease in leases],
                "runs": [lease.run_id for lease in leases],
                "drafts": [lease.draft for lease in leases],
                "providers": [lease.provider_id for lease in leases],
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

    async def finish_turn(
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
        waited = False
        params: dict[str, Any] = {
            "thread": thread_id,
            "run": run_id,
            "reply": reply,
            "retry": False,
            "provider": provider_id,
        }
        query = _FINISH_TURN
        if usage is not None:
            params.update(usage.params())
            query = _FINISH_TURN_WITH_USAGE
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
