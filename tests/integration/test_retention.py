"""The retention purge on real Postgres: what is older goes, what is newer stays, and two purgers
running at once delete each row (and each provider-side copy) once."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta

import anyio

from proxy.engines.base import Engine, EngineEvent, Turn
from proxy.store import provider_copies
from proxy.store.db import Database
from proxy.store.retention import Policy, Purged, Purger, RetentionSettings

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=400)


class RecordingEngine(Engine):
    """Counts provider-side deletions (the erasure tests check them against the simulator)."""

    name = "recording"

    def __init__(self) -> None:
        self.deleted: list[str] = []

    async def create_conversation(self) -> str | None:
        return None

    async def delete_conversation(self, conversation_id: str | None) -> None:
        await anyio.sleep(0)  # let the other purger run in between
        if conversation_id:
            self.deleted.append(conversation_id)

    async def stream_turn(self, turn: Turn) -> AsyncGenerator[EngineEvent, None]:
        raise NotImplementedError
        yield


def settings(batch: int = 500) -> RetentionSettings:
    return RetentionSettings(_env_file=None, batch=batch, pause=0)  # type: ignore[call-arg]


async def thread(db: Database, tenant: str, created: datetime, *message_times: datetime) -> str:
    thread_id = f"thr_{uuid.uuid4().hex}"
    await db.execute(
        "insert into threads (id, tenant, engine, provider_id, created_at) values (%s, %s, 'responses', %s, %s)",
        (thread_id, tenant, f"conv_{thread_id}", created),
    )
    for i, at in enumerate(message_times):
        await db.execute(
            "insert into messages (thread_id, role, content, created_at) values (%s, %s, %s, %s)",
            (thread_id, "user" if i % 2 == 0 else "assistant", f"text {i}", at),
        )
    return thread_id


async def lead_and_handoff(db: Database, tenant: str, created: datetime) -> tuple[int, int]:
    lead = await db.fetch_one(
        "insert into leads (tenant, thread_id, content_hash, name, email, source, created_at)"
        " values (%s, 'thr_x', %s, 'Ann', 'ann@example.com', 'capture_lead', %s) returning id",
        (tenant, uuid.uuid4().hex, created),
    )
    handoff = await db.fetch_one(
        "insert into handoffs (tenant, thread_id, reason, source, created_at)"
        " values (%s, 'thr_x', 'help', 'tool', %s) returning id",
        (tenant, created),
    )
    assert lead and handoff
    for column, row_id in (("lead_id", lead["id"]), ("handoff_id", handoff["id"])):
        await db.execute(
            f"insert into outbox (tenant, kind, dedupe_key, payload, {column}) values (%s, 'email', %s, '{{}}', %s)",
            (tenant, uuid.uuid4().hex, row_id),
        )
    return lead["id"], handoff["id"]


async def exists(db: Database, table: str, column: str, value: object) -> bool:
    return await db.fetch_one(f"select 1 from {table} where {column} = %s", (value,)) is not None


async def test_older_rows_go_newer_stay(database: Database) -> None:
    tenant = f"ret-{uuid.uuid4().hex[:8]}"
    bystander = f"ret-other-{uuid.uuid4().hex[:8]}"
    old = await thread(database, tenant, OLD, OLD, OLD)
    in_use = await thread(database, tenant, OLD, OLD, NOW)  # started long ago, written to today
    recent = await thread(database, tenant, NOW - timedelta(days=5), NOW - timedelta(days=5))
    empty_old = await thread(database, tenant, OLD)
    others = await thread(database, bystander, OLD, OLD)  # another tenant, keeping forever
    old_lead, old_handoff = await lead_and_handoff(database, tenant, OLD)
    new_lead, new_handoff = await lead_and_handoff(database, tenant, NOW - timedelta(days=5))

    policies = [Policy(tenant, 30, 365, 90), Policy(bystander, 0, 0, 0)]
    engine = RecordingEngine()
    purged = await Purger(database, settings(batch=2)).purge(policies, {tenant: engine})

    assert purged.by_tenant[tenant] == {"messages": 3, "threads": 2, "leads": 1, "handoffs": 1}
    assert not await exists(database, "threads", "id", old)
    assert not await exists(database, "threads", "id", empty_old)
    assert not await exists(database, "messages", "thread_id", old)
    kept = await database.fetch_all("select created_at from messages where thread_id = %s", (in_use,))
    assert [r["created_at"] for r in kept] == [NOW]
    for kept_thread in (in_use, recent, others):
        assert await exists(database, "threads", "id", kept_thread)
    assert not await exists(database, "leads", "id", old_lead)
    assert not await exists(database, "handoffs", "id", old_handoff)
    assert not await exists(database, "outbox", "lead_id", old_lead)
    assert not await exists(database, "outbox", "handoff_id", old_handoff)
    for table, row_id in (("leads", new_lead), ("handoffs", new_handoff)):
        assert await exists(database, table, "id", row_id)
    assert sorted(engine.deleted) == sorted([f"conv_{old}", f"conv_{empty_old}"])
    assert not await exists(database, "provider_deletions", "provider_id", f"conv_{old}")


async def test_two_purgers_at_once_delete_each_row_once(database: Database) -> None:
    tenant = f"ret-{uuid.uuid4().hex[:8]}"
    await database.execute(
        "insert into threads (id, tenant, engine, provider_id, created_at)"
        " select 'thr_' || %(t)s || '_' || i, %(t)s, 'responses', 'conv_' || %(t)s || '_' || i, %(old)s"
        " from generate_series(1, 120) i",
        {"t": tenant, "old": OLD},
    )
    await database.execute(
        "insert into messages (thread_id, role, content, created_at)"
        " select 'thr_' || %(t)s || '_' || (i %% 120 + 1), 'user', 'old text', %(old)s from generate_series(1, 1200) i",
        {"t": tenant, "old": OLD},
    )
    policy = Policy(tenant, 30, 0, 0)
    engine = RecordingEngine()
    results: list[Purged] = []

    async def purge() -> None:
        results.append(await Purger(database, settings(batch=25)).purge([policy], {tenant: engine}))

    async with anyio.create_task_group() as group:
        group.start_soon(purge)
        group.start_soon(purge)

    assert sum(r.messages for r in results) == 1200
    assert sum(r.threads for r in results) == 120
    assert sum(r.provider_copies for r in results) == 120
    assert all(n == 1 for n in Counter(engine.deleted).values()) and len(engine.deleted) == 120
    left = await database.fetch_one("select count(*) as n from threads where tenant = %s", (tenant,))
    assert left == {"n": 0}


async def test_failed_provider_deletion_is_retried_later(database: Database) -> None:
    class Failing(RecordingEngine):
        async def delete_conversation(self, conversation_id: str | None) -> None:
            raise RuntimeError("provider down")

    tenant = f"ret-{uuid.uuid4().hex[:8]}"
    row = await database.fetch_one(
        "insert into provider_deletions (tenant, provider_id) values (%s, 'conv_later') returning id", (tenant,)
    )
    assert row is not None
    assert await provider_copies.drain(database, {tenant: Failing()}, ids=[row["id"]]) == 0
    waiting = await database.fetch_one(
        "select attempts, last_error, lease_until > now() as later from provider_deletions where id = %s", (row["id"],)
    )
    assert (
        waiting is not None
        and waiting["attempts"] == 1
        and waiting["later"]
        and "provider down" in waiting["last_error"]
    )
    await database.execute(
        "update provider_deletions set lease_until = now() - interval '1 s' where id = %s", (row["id"],)
    )
    engine = RecordingEngine()
    assert await provider_copies.drain(database, {tenant: engine}, ids=[row["id"]]) == 1
    assert engine.deleted == ["conv_later"]


async def test_the_scheduled_task_purges_on_its_timer(database: Database) -> None:
    from proxy.store.retention import running_retention
    from tests.support.apps import make_tenant
    from tests.support.waiting import eventually

    tenant = make_tenant(f"ret-{uuid.uuid4().hex[:8]}", ["timer.test"], retention={"conversations_days": 30})
    old = await thread(database, tenant.name, OLD, OLD)
    recent = await thread(database, tenant.name, NOW, NOW)
    engine = RecordingEngine()
    quick = RetentionSettings(_env_file=None, first_delay=0, interval=3600, pause=0)  # type: ignore[call-arg]
    async with running_retention(database, [tenant], {tenant.name: engine}, quick):

        async def purged() -> bool:
            return engine.deleted == [f"conv_{old}"]

        await eventually(purged)
    assert not await exists(database, "threads", "id", old)
    assert await exists(database, "threads", "id", recent)
