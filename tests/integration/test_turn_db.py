"""A turn's database work: one statement to open it, one to end it, and no end lost when many end at once."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
import psycopg
import pytest

from proxy.engines.base import EngineError, HistoryMessage, Turn
from proxy.engines.offline import OfflineEngine
from proxy.store.db import Database
from proxy.store.threads import LockedThread, ThreadRecord, ThreadStore, new_id
from proxy.tenants import TenantConfig
from proxy.turns.manager import TurnManager
from proxy.turns.runner import ActiveRun
from proxy.turns.turn_request import ThreadBusy, ThreadMissing
from proxy.usage.budget import BudgetGuard
from proxy.usage.store import UsageEntry, UsageStore
from proxy.visitors import Visitor
from tests.support.scripted_engine import ScriptedEngine
from tests.support.turn_jobs import StoredLate, ask, end_turn, turn_services
from tests.support.waiting import eventually


def tenant_name() -> str:
    return f"tdb-{uuid.uuid4().hex[:8]}"


class ChatLike(ScriptedEngine):
    """Keeps no conversation, so the turn sends the history along (as the chat engine does)."""

    name = "chat"

    def history_window(self) -> int:
        return 20  # the default window

    async def create_conversation(self) -> None:
        return None


class Gated(ChatLike):
    """Every turn waits at the gate before it streams (its opening and start are done by then)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = anyio.Event()
        self.at_gate = 0

    async def stream_turn(self, turn: Any) -> Any:
        self.at_gate += 1
        await self.gate.wait()
        async for event in super().stream_turn(turn):
            yield event


@asynccontextmanager
async def small_pool(pg_url: str, database: Database) -> AsyncIterator[Database]:
    """Two connections; a caller waits at most 0.1 s for one. (``database`` has migrated the schema.)"""
    async with Database.connect(pg_url, min_size=2, max_size=2, timeout=0.1, migrate=False) as db:
        yield db


async def user_messages(db: Database, thread_id: str) -> list[str]:
    rows = await db.fetch_all("select content from messages where thread_id = %s and role = 'user'", (thread_id,))
    return [row["content"] for row in rows]


async def open_turn(
    store: ThreadStore, tenant: str, text: str, *, thread: ThreadRecord | None = None
) -> tuple[LockedThread, str]:
    """A turn's lock (on a new thread unless given) taken as ``TurnManager.open`` does for a chat
    tenant with the default history window: the locked thread and the run id."""
    thread = thread or await store.create(tenant=tenant, visitor=Visitor(), engine="chat")
    run_id = new_id("run")
    result, locked = await store.lock(
        thread.id, tenant=tenant, visitor=None, run_id=run_id, lease_seconds=60, user_text=text, history=20
    )
    assert result == "acquired" and isinstance(locked, LockedThread)
    return locked, run_id


async def new_thread(store: ThreadStore, tenant: str) -> str:
    return (await store.create(tenant=tenant, visitor=Visitor(), engine="chat")).id


# -- opening a turn ----------------------------------------------------------------------------


async def test_lock_stores_the_message_once_and_reads_the_history_before_it(database: Database) -> None:
    store, tenant = ThreadStore(database), tenant_name()
    thread = await store.create(tenant=tenant, visitor=Visitor("v1"), engine="chat")
    for i in range(4):
        await store.add_message(thread.id, "user" if i % 2 == 0 else "assistant", f"m{i}")
    result, locked = await store.lock(
        thread.id, tenant=tenant, visitor="v1", run_id="run_1", lease_seconds=60, user_text="hello", history=3
    )
    assert result == "acquired" and isinstance(locked, LockedThread)
    assert (locked.id, locked.tenant, locked.visitor) == (thread.id, tenant, "v1")
    assert locked.history == (
        HistoryMessage("assistant", "m1"),
        HistoryMessage("user", "m2"),
        HistoryMessage("assistant", "m3"),
    )
    stored = await store.messages(thread.id)
    assert [(m.role, m.content, m.run_id) for m in stored][-1] == ("user", "hello", "run_1")
    assert stored[-1].id == locked.user_message_id
    assert await user_messages(database, thread.id) == ["m0", "m2", "hello"]
    assert await store.active_run(thread.id) == "run_1"


async def test_busy_and_foreign_threads_store_nothing(database: Database) -> None:
    store, tenant = ThreadStore(database), tenant_name()
    thread = await store.create(tenant=tenant, visitor=Visitor("v1"), engine="chat")
    first, _ = await store.lock(thread.id, tenant=tenant, visitor="v1", run_id="run_a", lease_seconds=60, user_text="a")
    busy, record = await store.lock(
        thread.id, tenant=tenant, visitor="v1", run_id="run_b", lease_seconds=60, user_text="b", history=5
    )
    assert (first, busy) == ("acquired", "busy")
    assert record is not None and record.id == thread.id and not isinstance(record, LockedThread)
    for other_tenant, other_visitor in ((tenant, "v2"), ("someone-else", "v1")):
        missing, nothing = await store.lock(
            thread.id, tenant=other_tenant, visitor=other_visitor, run_id="run_c", lease_seconds=60, user_text="c"
        )
        assert (missing, nothing) == ("missing", None)
    assert await user_messages(database, thread.id) == ["a"]
    assert await store.active_run(thread.id) == "run_a"


async def test_a_lock_meeting_a_late_end_is_refused_rather_than_miss_its_reply(database: Database) -> None:
    """A turn's lease expired; its end is being written as a new message comes: the new lock waits
    for that write, and since its history read cannot see the reply, it reports busy (409)."""
    store, tenant = ThreadStore(database), tenant_name()
    thread = await store.create(tenant=tenant, visitor=Visitor(), engine="chat")
    await store.lock(thread.id, tenant=tenant, visitor=None, run_id="run_old", lease_seconds=-1, user_text="q1")
    outcome: dict[str, Any] = {}

    async def next_turn() -> None:
        outcome["lock"] = await store.lock(
            thread.id, tenant=tenant, visitor=None, run_id="run_new", lease_seconds=60, user_text="q2", history=5
        )

    async def lock_is_waiting() -> bool:
        row = await database.fetch_one(
            "select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and query like %s",
            ("%quick as%",),
        )
        return bool(row and row["n"])

    async with anyio.create_task_group() as group, database.transaction() as ending:
        # the old turn's end, written but not yet committed: it holds the thread's row
        await ending.execute(
            "insert into messages (thread_id, role, content, run_id) values (%s, 'assistant', 'a1', 'run_old')",
            (thread.id,),
        )
        await ending.execute("update threads set active_run = null, locked_until = null where id = %s", (thread.id,))
        group.start_soon(next_turn)
        await eventually(lock_is_waiting)
    assert outcome["lock"][0] == "busy"
    assert await user_messages(database, thread.id) == ["q1"]
    result, locked = await store.lock(
        thread.id, tenant=tenant, visitor=None, run_id="run_new", lease_seconds=60, user_text="q2", history=5
    )
    assert result == "acquired" and isinstance(locked, LockedThread)
    assert locked.history == (HistoryMessage("user", "q1"), HistoryMessage("assistant", "a1"))


async def test_open_refuses_a_busy_or_foreign_thread_and_stores_nothing(database: Database) -> None:
    tenant, engine = tenant_name(), ChatLike()
    config = TenantConfig(name=tenant, domains=[f"{tenant}.test"])
    store = ThreadStore(database)
    anna = Visitor("v:anna-device", "identified", "user_anna", "anna@example.com")
    thread = await store.create(tenant=tenant, visitor=anna, engine="chat")
    # bound as before threads named their user: the device's binding alone
    await database.execute("update threads set visitor = 'v:anna-device' where id = %s", (thread.id,))
    async with anyio.create_task_group() as group:
        manager = TurnManager(group, turn_services(database, engine, config, threads=store))
        for stranger in (Visitor("v:anna-device"), Visitor("v:anna-device", "identified", "user_bob")):
            with pytest.raises(ThreadMissing):
                await manager.open(
                    dataclasses.replace(ask(config, thread.id, "hello", stranger), binding="v:anna-device")
                )
        as_anna = dataclasses.replace(ask(config, thread.id, "wait", anna), binding="v:anna-device")
        run = await manager.open(as_anna)
        with pytest.raises(ThreadBusy):
            await manager.open(dataclasses.replace(as_anna, text="again"))
        assert run.job.visitor == anna  # the tools serve the user the request proved
        run.cancel()
    assert await user_messages(database, thread.id) == ["wait"]
    assert await store.active_run(thread.id) is None


class KeepsTheConversation(ScriptedEngine):
    """A provider that keeps the conversation (no history read with the lock), and is down."""

    async def stream_turn(self, turn: Any) -> Any:
        self.turns.append(turn)
        raise EngineError("upstream_unavailable", "down", retryable=True)
        yield  # an async generator


async def test_the_offline_fallback_reads_the_history_the_tenants_engine_needed_none_of(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Turn] = []

    class Recording(OfflineEngine):
        async def stream_turn(self, turn: Turn) -> Any:
            seen.append(turn)
            async for event in super().stream_turn(turn):
                yield event

    monkeypatch.setattr("proxy.turns.fallback.OfflineEngine", Recording)
    tenant, engine = tenant_name(), KeepsTheConversation()
    config = TenantConfig(name=tenant, domains=[f"{tenant}.test"], fallback="offline", history_window=2)
    store = ThreadStore(database)
    thread = await store.create(tenant=tenant, visitor=Visitor(), engine="responses")
    for i in range(3):
        await store.add_message(thread.id, "user" if i % 2 == 0 else "assistant", f"m{i}")
    async with anyio.create_task_group() as group:
        manager = TurnManager(group, turn_services(database, engine, config, threads=store))
        run = await manager.open(ask(config, thread.id, "hello"))
        await run.channel_closed()
    assert engine.turns[0].history == ()
    assert seen[0].history == (HistoryMessage("assistant", "m1"), HistoryMessage("user", "m2"))
    assert seen[0].user_text == "hello"
    assert [e.name for e in run.channel.events][-2:] == ["run.completed", "done"]


class SpentOnceStored:
    """Today's usage, past the tenant's cap; read once the thread's statement committed."""

    def __init__(self, committed: anyio.Event) -> None:
        self.committed = committed
        self.decided = anyio.Event()

    async def day_total(self, tenant: str, day: Any) -> int:
        await self.committed.wait()
        self.decided.set()
        return 1100


async def test_the_offline_model_of_a_first_message_has_the_message_only_as_its_input(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its budget, a first message is answered by the offline model, which reads the history
    itself (the tenant's provider keeps the conversation). Its thread stored meanwhile, the
    visitor's message is the turn's input, not also a message before it."""
    seen: list[Turn] = []

    class Recording(OfflineEngine):
        async def stream_turn(self, turn: Turn) -> Any:
            seen.append(turn)
            async for event in super().stream_turn(turn):
                yield event

    monkeypatch.setattr("proxy.turns.fallback.OfflineEngine", Recording)
    tenant = tenant_name()
    config = TenantConfig(
        name=tenant, domains=[f"{tenant}.test"], fallback="offline", budget={"daily_hard_tokens": 1000}
    )
    store = StoredLate(database)
    usage = SpentOnceStored(store.committed)
    services = dataclasses.replace(
        turn_services(database, KeepsTheConversation(), config, threads=store),
        budgets=BudgetGuard(usage, [config]),  # type: ignore[arg-type]
    )
    runs: list[ActiveRun] = []
    opened = anyio.Event()
    async with anyio.create_task_group() as group:
        manager = TurnManager(group, services)

        async def first_message() -> None:
            runs.append(await manager.open(dataclasses.replace(ask(config, new_id("thr"), "hello"), new_thread=True)))
            opened.set()

        group.start_soon(first_message)
        await usage.decided.wait()  # the thread is stored, the turn goes on to the offline model
        store.gate.set()
        await opened.wait()
        await runs[0].channel_closed()
    assert [turn.user_text for turn in seen] == ["hello"]
    assert seen[0].history == ()
    assert [e.name for e in runs[0].channel.events][-2:] == ["run.completed", "done"]


# -- ending a turn -----------------------------------------------------------------------------


async def test_many_turns_cut_off_at_once_all_end_saved_on_a_tiny_pool(pg_url: str, database: Database) -> None:
    """A mass disconnect: every turn is stopped together while the pool has no connection to give.

    ``done`` reaches every stream without waiting for the database; once connections free up, every
    partial reply is saved and every lock released.
    """
    tenant, engine = tenant_name(), ChatLike()
    config = TenantConfig(name=tenant, domains=[f"{tenant}.test"])
    async with small_pool(pg_url, database) as db:
        store = ThreadStore(db)
        runs: list[ActiveRun] = []
        async with anyio.create_task_group() as group:
            manager = TurnManager(group, turn_services(db, engine, config, threads=store))
            for _ in range(40):
                runs.append(await manager.open(ask(config, await new_thread(store, tenant), "wait")))
            for run in runs:
                await first_delta(run)
            async with db.connection(), db.connection():  # every connection taken
                for run in runs:
                    run.cancel()
                for run in runs:
                    await run.channel_closed()
                assert all(run.channel.events[-1].name == "done" for run in runs)
        # the task group has waited for every turn's end to be written
        for run in runs:
            assert await store.active_run(run.thread_id) is None
            stored = [(m.role, m.content) for m in await store.messages(run.thread_id)]
            assert stored == [("user", "wait"), ("assistant", "partial ")]


async def test_turns_complete_and_their_usage_counts_exactly_without_a_free_connection(
    pg_url: str, database: Database
) -> None:
    """Once opened, a turn needs no query until its end: it streams to ``run.completed`` and ``done``
    while every connection is taken; the reply, the usage and the release follow, each exactly once."""
    tenant, engine, text = tenant_name(), Gated(), "say:one two three"
    config = TenantConfig(name=tenant, domains=[f"{tenant}.test"], model="gpt-test")
    async with small_pool(pg_url, database) as db:
        store = ThreadStore(db)
        # a second turn on a thread carries the first one along as history
        earlier, earlier_run = await open_turn(store, tenant, text)
        await end_turn(store, earlier.id, earlier_run, "earlier reply")
        threads = [earlier.id] + [await new_thread(store, tenant) for _ in range(11)]
        runs: list[ActiveRun] = []
        async with anyio.create_task_group() as group:
            manager = TurnManager(group, turn_services(db, engine, config, threads=store))
            runs = [await manager.open(ask(config, thread_id, text)) for thread_id in threads]

            async def all_at_gate() -> bool:
                return engine.at_gate == len(runs)

            await eventually(all_at_gate)
            async with db.connection(), db.connection():  # every connection taken
                engine.gate.set()
                for run in runs:
                    await run.channel_closed()
                for run in runs:
                    assert [e.name for e in run.channel.events][-3:] == ["message.completed", "run.completed", "done"]
        rows = await UsageStore(db).rows(since=datetime.now(UTC).date(), tenant=tenant)
        assert [(r.model, r.input_tokens, r.output_tokens, r.turns) for r in rows] == [("gpt-test", 36, 36, 12)]
        for run in runs:
            assert await store.active_run(run.thread_id) is None
            assert [m.content for m in await store.messages(run.thread_id)][-2:] == [text, "one two three"]
    assert engine.turns[0].tool_context.thread_id == earlier.id
    assert engine.turns[0].history == (HistoryMessage("user", text), HistoryMessage("assistant", "earlier reply"))
    assert all(turn.history == () for turn in engine.turns[1:])


class AnswerLost(Database):
    """The first statement is committed, but its answer never arrives (the connection broke)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db.pool)
        self.lost = 0

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[Any]:
        async with super().connection(timeout) as conn:
            if self.lost:
                yield conn
                return
            self.lost += 1
            yield _LosesAnswer(conn)


class _LosesAnswer:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def execute(self, *args: Any, **kwargs: Any) -> None:
        await self.conn.execute(*args, **kwargs)
        raise psycopg.OperationalError("server closed the connection unexpectedly")


async def test_a_retried_end_is_written_once(database: Database) -> None:
    tenant = tenant_name()
    store = ThreadStore(AnswerLost(database))
    locked, run_id = await open_turn(ThreadStore(database), tenant, "hi")
    entry = UsageEntry(tenant, datetime.now(UTC).date(), "m", 10, 5)
    assert await end_turn(store, locked.id, run_id, "the reply", usage=entry) == "saved"
    assert store.db.lost == 1  # type: ignore[attr-defined]
    assert [m.content for m in await store.messages(locked.id)] == ["hi", "the reply"]
    assert await store.active_run(locked.id) is None
    assert await UsageStore(database).day_total(tenant, entry.day) == 15


async def test_an_end_that_cannot_be_written_gives_up_at_the_deadline(pg_url: str, database: Database) -> None:
    async with small_pool(pg_url, database) as db:
        store = ThreadStore(db, finish_deadline=0.3)
        locked, run_id = await open_turn(store, tenant_name(), "hi")
        async with db.connection(), db.connection():  # every connection taken
            steps = [step async for step in store.finish_turn(locked.id, run_id, "lost")]
        assert steps == ["waiting", "lost"]
        assert await store.active_run(locked.id) == run_id  # the lease expires by itself


async def first_delta(run: ActiveRun) -> None:
    async for batch in run.channel.follow():
        if any(event.name == "message.delta" for event in batch):  # type: ignore[union-attr]
            return


async def test_events_of_dropped_streams_are_kept_when_the_pool_is_full(pg_url: str, database: Database) -> None:
    """Many readers dropping at once, while no connection is free: every run's events still reach
    the event log once connections free up, so each can be resumed on any worker."""
    tenant, engine = tenant_name(), ChatLike()
    config = TenantConfig(name=tenant, domains=[f"{tenant}.test"])
    async with small_pool(pg_url, database) as db:
        store = ThreadStore(db)
        services = turn_services(db, engine, config, threads=store)
        log = services.event_log
        runs: list[ActiveRun] = []
        async with anyio.create_task_group() as group:
            manager = TurnManager(group, services, disconnect_grace=30)
            for _ in range(20):
                run = await manager.open(ask(config, await new_thread(store, tenant), "wait"))
                manager.attach(run)
                runs.append(run)
            for run in runs:
                await first_delta(run)
            async with db.connection(), db.connection():  # every connection taken while they drop
                for run in runs:
                    manager.detach(run, saw_done=False)
                for run in runs:
                    run.cancel()
                for run in runs:
                    await run.channel_closed()
        # the task group has waited for every copy to finish
        for run in runs:
            logged, state = await log.read(run.run_id, 0)
            assert state == "finished"
            assert [e.seq for e in logged] == [e.seq for e in run.channel.events]
