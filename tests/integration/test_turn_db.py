"""Opening a turn: the lock, the visitor's message and the history in one statement."""

from __future__ import annotations

import uuid
from typing import Any

import anyio

from proxy.engines.base import HistoryMessage
from proxy.store.db import Database
from proxy.store.threads import LockedThread, ThreadRecord, ThreadStore, new_id
from proxy.visitors import Visitor
from tests.support.waiting import eventually


def tenant_name() -> str:
    return f"tdb-{uuid.uuid4().hex[:8]}"


async def user_messages(db: Database, thread_id: str) -> list[str]:
    rows = await db.fetch_all("select content from messages where thread_id = %s and role = 'user'", (thread_id,))
    return [row["content"] for row in rows]


async def open_turn(
    store: ThreadStore, tenant: str, text: str, *, thread: ThreadRecord | None = None
) -> tuple[LockedThread, str]:
    """A turn (on a new thread unless given) opened as the API does for a chat tenant with the
    default history window: the locked thread and the run id."""
    thread = thread or await store.create(tenant=tenant, visitor=Visitor(), engine="chat")
    run_id = new_id("run")
    result, locked = await store.lock(
        thread.id, tenant=tenant, visitor=None, run_id=run_id, lease_seconds=60, user_text=text, history=20
    )
    assert result == "acquired" and isinstance(locked, LockedThread)
    return locked, run_id


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
