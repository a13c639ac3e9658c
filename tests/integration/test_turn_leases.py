"""Turn locks are short leases renewed with the reply so far; a lapsed lease (its worker died) is
freed, by the lease keeper's rounds or by the next message, with the partial reply kept.

On a database of their own: the lease keepers of apps running elsewhere in the session free lapsed
leases in theirs, and would race these tests for them."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from proxy.store.db import Database
from proxy.store.event_log import EventLog
from proxy.store.threads import Lease, LockedThread, ThreadStore
from proxy.turns.events import Event
from proxy.visitors import Visitor
from tests.support.turn_jobs import end_turn

ERROR = {"code": "interrupted", "message": "stopped", "retryable": True}


@pytest.fixture(scope="module")
async def database(pg_url: str) -> AsyncIterator[Database]:
    name = f"lease_tests_{secrets.token_hex(4)}"
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        async with Database.connect(make_conninfo(pg_url, dbname=name), min_size=1, max_size=4) as db:
            yield db
    finally:
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            await conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


async def locked_thread(store: ThreadStore, tenant: str, run_id: str) -> str:
    thread = await store.create(tenant=tenant, visitor=Visitor(), engine="chat")
    result, _ = await store.lock(
        thread.id, tenant=tenant, visitor=None, run_id=run_id, lease_seconds=60, user_text="hi"
    )
    assert result == "acquired"
    return thread.id


async def test_renewal_extends_the_lease_and_writes_the_draft(database: Database) -> None:
    store = ThreadStore(database)
    thread_id = await locked_thread(store, "t-renew", "run_renew")
    held = await store.renew([Lease(thread_id, "run_renew", "Hello, wor"), Lease(thread_id, "run_other", "x")], 60)
    assert held == {"run_renew"}  # only the run that holds the thread
    await store.renew([Lease(thread_id, "run_renew", None)], 60)  # unchanged draft: kept
    row = await database.fetch_one(
        "select draft, locked_until > now() + interval '30 s' as long from threads where id = %s", (thread_id,)
    )
    assert row == {"draft": "Hello, wor", "long": True}


async def test_renewal_keeps_the_provider_id_a_turn_created(database: Database) -> None:
    # a first turn's new conversation is stored with its end; renewals keep it should the worker die first
    store = ThreadStore(database)
    thread_id = await locked_thread(store, "t-renew-conv", "run_conv")
    await store.renew([Lease(thread_id, "run_conv", None, "conv_1"), Lease(thread_id, "run_else", None, "conv_x")], 60)
    await store.renew([Lease(thread_id, "run_conv", None, None)], 60)  # none given: the stored one stays
    row = await database.fetch_one("select provider_id from threads where id = %s", (thread_id,))
    assert row == {"provider_id": "conv_1"}


async def test_a_lapsed_lease_is_freed_with_its_draft_kept(database: Database) -> None:
    store = ThreadStore(database)
    thread_id = await locked_thread(store, "t-reap", "run_died")
    await store.renew([Lease(thread_id, "run_died", "The tent weighs")], -1)  # its worker died: the lease lapses

    assert (thread_id, "run_died") in await store.reap()
    assert await store.active_run(thread_id) is None
    messages = await store.messages(thread_id)
    assert [(m.role, m.content, m.run_id) for m in messages] == [
        ("user", "hi", "run_died"),
        ("assistant", "The tent weighs", "run_died"),
    ]
    assert (thread_id, "run_died") not in await store.reap()  # once

    # the dead worker, were it only stalled, adds no second reply when it finally ends
    await end_turn(store, thread_id, "run_died", "The tent weighs 2 kg.")
    assert len(await store.messages(thread_id)) == 2


async def test_a_new_message_takes_over_a_lapsed_lease_keeping_the_draft_first(database: Database) -> None:
    store = ThreadStore(database)
    thread_id = await locked_thread(store, "t-take", "run_gone")
    await store.renew([Lease(thread_id, "run_gone", "Half a repl")], -1)

    result, thread = await store.lock(
        thread_id, tenant="t-take", visitor=None, run_id="run_next", lease_seconds=60, user_text="again?"
    )
    assert result == "acquired" and isinstance(thread, LockedThread)
    assert thread.abandoned_run == "run_gone"
    messages = await store.messages(thread_id)
    assert [(m.role, m.content) for m in messages] == [("user", "hi"), ("assistant", "Half a repl"), ("user", "again?")]
    assert thread.user_message_id == messages[-1].id

    # an ordinary lock has taken over nothing
    await end_turn(store, thread_id, "run_next", "Yes.")
    _, thread = await store.lock(thread_id, tenant="t-take", visitor=None, run_id="run_third", lease_seconds=60)
    assert isinstance(thread, LockedThread) and thread.abandoned_run is None


async def test_a_dead_runs_saved_stream_ends_with_error_and_done(database: Database) -> None:
    store, log = ThreadStore(database), EventLog(database)
    thread_id = await locked_thread(store, "t-log", "run_logged")
    await log.open("run_logged", thread_id)
    await log.append("run_logged", [Event.make("run_logged", i, "message.delta", {"delta": "x"}) for i in (1, 2, 3)])

    assert await log.end_abandoned(["run_logged", "run_never_logged"], ERROR) == 1
    events, state = await log.read("run_logged", 3)
    assert [(e.seq, e.name) for e in events] == [(4, "error"), (5, "done")]
    assert events[0].data == ERROR
    assert state == "finished"
    assert await log.end_abandoned(["run_logged"], ERROR) == 0  # ended once
