from __future__ import annotations

import asyncio

import psycopg

from proxy.store.db import Database
from proxy.store.threads import LockedThread, NewTurn, ThreadStore, new_id
from proxy.visitors import Visitor
from tests.support.turn_jobs import end_turn


async def test_thread_is_bound_to_tenant_and_visitor(database: Database) -> None:
    store = ThreadStore(database)
    thread = await store.create(tenant="t-bind", visitor=Visitor("v1"), engine="chat")
    assert await store.get(thread.id, tenant="t-bind", visitor="v1") is not None
    assert await store.get(thread.id, tenant="t-bind", visitor="v2") is None
    assert await store.get(thread.id, tenant="other", visitor="v1") is None


async def test_unbound_thread_is_open_to_its_tenant_only(database: Database) -> None:
    store = ThreadStore(database)
    thread = await store.create(tenant="t-open", visitor=Visitor(), engine="chat")
    assert await store.get(thread.id, tenant="t-open", visitor="anyone") is not None
    assert await store.get(thread.id, tenant="t-other", visitor=None) is None


async def test_lock_is_exclusive_until_released(database: Database) -> None:
    store = ThreadStore(database)
    thread = await store.create(tenant="t-lock", visitor=Visitor(), engine="chat")
    first, _ = await store.lock(thread.id, tenant="t-lock", visitor=None, run_id="run_a", lease_seconds=60)
    second, _ = await store.lock(thread.id, tenant="t-lock", visitor=None, run_id="run_b", lease_seconds=60)
    assert (first, second) == ("acquired", "busy")
    await end_turn(store, thread.id, "run_a", "the reply")
    third, _ = await store.lock(thread.id, tenant="t-lock", visitor=None, run_id="run_c", lease_seconds=60)
    assert third == "acquired"
    missing, _ = await store.lock("thr_nope", tenant="t-lock", visitor=None, run_id="run_d", lease_seconds=60)
    assert missing == "missing"


async def test_expired_lease_can_be_taken_over(database: Database) -> None:
    store = ThreadStore(database)
    thread = await store.create(tenant="t-lease", visitor=Visitor(), engine="chat")
    await store.lock(thread.id, tenant="t-lease", visitor=None, run_id="run_dead", lease_seconds=-1)
    result, _ = await store.lock(thread.id, tenant="t-lease", visitor=None, run_id="run_new", lease_seconds=60)
    assert result == "acquired"
    # the dead run's late end must not free the new run's lock
    assert await end_turn(store, thread.id, "run_dead", "") == "saved"
    assert await store.active_run(thread.id) == "run_new"


async def test_a_users_thread_is_missing_to_anyone_else(database: Database) -> None:
    store = ThreadStore(database)
    anna = Visitor("v:anna", "identified", "user_anna", "anna@example.com")
    thread = await store.create(tenant="t-user", visitor=anna, engine="chat")
    for user_id in (None, "user_bob"):
        result, record = await store.lock(
            thread.id, tenant="t-user", visitor=anna.binding, user_id=user_id, run_id="run_x", lease_seconds=60
        )
        assert (result, record) == ("missing", None)
    assert await store.active_run(thread.id) is None
    result, _ = await store.lock(
        thread.id, tenant="t-user", visitor=anna.binding, user_id="user_anna", run_id="run_a", lease_seconds=60
    )
    assert result == "acquired"


async def test_history_oldest_first_and_window(database: Database) -> None:
    store = ThreadStore(database)
    thread = await store.create(tenant="t-hist", visitor=Visitor(), engine="chat")
    for i in range(5):
        await store.add_message(thread.id, "user", f"q{i}")
    assert [m.content for m in await store.messages(thread.id)] == ["q0", "q1", "q2", "q3", "q4"]
    assert [m.content for m in await store.messages(thread.id, limit=2)] == ["q3", "q4"]
    assert [m.content for m in await store.messages(thread.id, newest_first=True, limit=2)] == ["q4", "q3"]


async def test_first_messages_arriving_together_each_get_their_locked_thread(database: Database) -> None:
    store = ThreadStore(database)
    visitors = [
        Visitor(f"v:{n}", "signed_in", f"user-{n}", f"{n}@example.com") if n % 2 else Visitor(f"v:{n}")
        for n in range(12)
    ]

    async def first(n: int) -> LockedThread:
        return await store.create_locked(NewTurn(
            new_id("thr"), tenant="t-burst", visitor=visitors[n], engine="chat", run_id=f"run_burst_{n}",
            lease_seconds=60, user_text=f"hello {n}",
        ))  # fmt: skip

    made = await asyncio.gather(*(first(n) for n in range(12)))
    for n, thread in enumerate(made):
        assert (thread.tenant, thread.visitor, thread.visitor_user_id) == (
            "t-burst",
            visitors[n].binding,
            visitors[n].user_id,
        )
        assert thread.history == () and thread.user_message_id is not None
        assert await store.active_run(thread.id) == f"run_burst_{n}"
        [message] = await store.messages(thread.id)
        assert (message.id, message.role, message.content) == (thread.user_message_id, "user", f"hello {n}")


async def test_a_first_message_the_database_refuses_fails_alone(database: Database) -> None:
    store = ThreadStore(database)
    taken = (await store.create(tenant="t-burst-dup", visitor=Visitor(), engine="chat")).id

    async def first(thread_id: str, n: int) -> LockedThread:
        return await store.create_locked(NewTurn(
            thread_id, tenant="t-burst-dup", visitor=Visitor(), engine="chat", run_id=f"run_dup_{n}",
            lease_seconds=60, user_text="hi",
        ))  # fmt: skip

    ids = [new_id("thr"), taken, new_id("thr")]  # the second one's id exists: its statement fails
    results = await asyncio.gather(*(first(thread_id, n) for n, thread_id in enumerate(ids)), return_exceptions=True)
    assert isinstance(results[1], psycopg.errors.UniqueViolation)
    for n in (0, 2):
        thread = results[n]
        assert isinstance(thread, LockedThread) and thread.id == ids[n]
        assert await store.active_run(ids[n]) == f"run_dup_{n}"
