"""Usage recording on the real database: upserts, concurrent turns, budgets over real totals."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import anyio

from proxy.engines.base import Usage
from proxy.store.db import Database
from proxy.usage.budget import BudgetGuard
from proxy.usage.store import UsageEntry, UsageStore, upsert_sql
from tests.support.apps import make_tenant


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def record(database: Database, guard: BudgetGuard, tenant: str, model: str, usage: Usage) -> None:
    """A turn's usage as the end of a turn writes it: counted by the guard, upserted with the reply."""
    await database.execute(upsert_sql(), guard.count(tenant, model, usage).params())


async def test_turns_of_one_day_and_model_add_up_in_one_row(database: Database) -> None:
    tenant = name("usage")
    guard = BudgetGuard(database)
    await record(database, guard, tenant, "gpt-4.1-mini", Usage(100, 20))
    await record(database, guard, tenant, "gpt-4.1-mini", Usage(50, 5))
    await record(database, guard, tenant, "gpt-4.1-nano", Usage(7, 3))
    today = guard.day(tenant)
    rows = await UsageStore(database).rows(since=today, tenant=tenant)
    assert [(r.model, r.input_tokens, r.output_tokens, r.turns) for r in rows] == [
        ("gpt-4.1-mini", 150, 25, 2),
        ("gpt-4.1-nano", 7, 3, 1),
    ]
    assert await UsageStore(database).day_total(tenant, today) == 185


async def test_concurrent_turns_from_many_guards_lose_nothing(database: Database) -> None:
    tenant = name("busy")
    guards = [BudgetGuard(database) for _ in range(4)]  # as if four workers

    async with anyio.create_task_group() as group:
        for i in range(40):
            group.start_soon(record, database, guards[i % 4], tenant, "m", Usage(10, 1))
    rows = await UsageStore(database).rows(since=guards[0].day(tenant), tenant=tenant)
    assert [(r.input_tokens, r.output_tokens, r.turns) for r in rows] == [(400, 40, 40)]


async def test_budget_follows_the_recorded_total(database: Database) -> None:
    tenant = make_tenant(
        name("budget"),
        ["budget.test"],
        budget={"daily_soft_tokens": 100, "daily_hard_tokens": 200, "fallback_model": "cheap"},
    )
    guard = BudgetGuard(database, [tenant.config], cache_seconds=0)
    other_worker = BudgetGuard(database, [tenant.config], cache_seconds=0)
    assert (await guard.decide(tenant.config)).action == "normal"
    await record(database, other_worker, tenant.name, "gpt-4.1-mini", Usage(90, 10))
    decision = await guard.decide(tenant.config)
    assert (decision.action, decision.model) == ("fallback", "cheap")
    await record(database, other_worker, tenant.name, "cheap", Usage(100, 0))
    decision = await guard.decide(tenant.config)
    assert decision.blocked and decision.message


async def test_days_are_separate(database: Database) -> None:
    tenant = name("days")
    store = UsageStore(database)
    today = datetime.now(UTC).date()
    await store.add(tenant=tenant, day=today - timedelta(days=1), model="m", input_tokens=1000, output_tokens=0)
    guard = BudgetGuard(database)
    assert await guard.used_today(make_tenant(tenant, ["days.test"]).config) == 0
    rows = await store.rows(since=today - timedelta(days=3), tenant=tenant)
    assert [r.day for r in rows] == [today - timedelta(days=1)]
    assert await store.rows(since=date(2999, 1, 1), tenant=tenant) == []


async def test_shard_rows_read_as_one_row_per_model(database: Database) -> None:
    tenant = name("shards")
    today = datetime.now(UTC).date()
    for shard, tokens in ((0, 100), (3, 20), (15, 3)):
        entry = UsageEntry(tenant, today, "m", tokens, 1, shard=shard)
        await database.execute(upsert_sql(), entry.params())
    stored = await database.fetch_one("select count(*) as n from usage_daily where tenant = %s", (tenant,))
    assert stored == {"n": 3}
    store = UsageStore(database)
    rows = await store.rows(since=today, tenant=tenant)
    assert [(r.model, r.input_tokens, r.output_tokens, r.turns) for r in rows] == [("m", 123, 3, 3)]
    assert await store.day_total(tenant, today) == 126
