"""The dashboard's figures, from the tables the product keeps anyway.

Days are UTC days, except tokens, which ``usage_daily`` keeps by the tenant's budget day. Costs are
estimates: tokens times the tenant's price per million tokens for the model (the console's table,
else the defaults below, else nothing).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from proxy.store.db import Database

# USD per million tokens (input, output), as listed by the provider when written; the tenant edits its own
DEFAULT_PRICES: dict[str, tuple[Decimal, Decimal]] = {
    "gpt-4.1": (Decimal("2.00"), Decimal("8.00")),
    "gpt-4.1-mini": (Decimal("0.40"), Decimal("1.60")),
    "gpt-4.1-nano": (Decimal("0.10"), Decimal("0.40")),
    "gpt-4o": (Decimal("2.50"), Decimal("10.00")),
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60")),
}
MAX_DAYS = 90


async def prices(db: Database, tenant: str) -> dict[str, tuple[Decimal, Decimal]]:
    table = dict(DEFAULT_PRICES)
    for row in await db.fetch_all(
        "select model, input_per_mtok, output_per_mtok from console_prices where tenant = %s", (tenant,)
    ):
        table[row["model"]] = (row["input_per_mtok"], row["output_per_mtok"])
    return table


async def set_price(db: Database, tenant: str, model: str, input_per_mtok: Decimal, output_per_mtok: Decimal) -> None:
    await db.execute(
        "insert into console_prices (tenant, model, input_per_mtok, output_per_mtok) values (%s, %s, %s, %s)"
        " on conflict (tenant, model) do update set input_per_mtok = excluded.input_per_mtok,"
        " output_per_mtok = excluded.output_per_mtok, updated_at = now()",
        (tenant, model, input_per_mtok, output_per_mtok),
    )


def cost(input_tokens: int, output_tokens: int, price: tuple[Decimal, Decimal] | None) -> Decimal:
    if price is None:
        return Decimal(0)
    return (Decimal(input_tokens) * price[0] + Decimal(output_tokens) * price[1]) / Decimal(1_000_000)


async def _per_day(db: Database, query: str, tenant: str, start: date) -> dict[str, int]:
    return {row["day"].isoformat(): int(row["n"]) for row in await db.fetch_all(query, (tenant, start))}


_UTC_DAY = "(({col}) at time zone 'UTC')::date"
_COUNTS = {
    "conversations": f"select {_UTC_DAY.format(col='created_at')} as day, count(*) as n from threads"
    f" where tenant = %s and created_at >= %s::date group by 1",
    "messages": f"select {_UTC_DAY.format(col='m.created_at')} as day, count(*) as n from messages m"
    f" join threads t on t.id = m.thread_id where t.tenant = %s and m.created_at >= %s::date group by 1",
    "leads": f"select {_UTC_DAY.format(col='created_at')} as day, count(*) as n from leads"
    f" where tenant = %s and created_at >= %s::date group by 1",
    "handoffs": f"select {_UTC_DAY.format(col='created_at')} as day, count(*) as n from handoffs"
    f" where tenant = %s and created_at >= %s::date group by 1",
    "takeovers": f"select {_UTC_DAY.format(col='started_at')} as day, count(*) as n from takeovers"
    f" where tenant = %s and started_at >= %s::date group by 1",
}


async def figures(db: Database, tenant: str, *, days: int = 14, today: date | None = None) -> dict[str, Any]:
    days = max(1, min(days, MAX_DAYS))
    today = today or (await _today(db))
    start = today - timedelta(days=days - 1)
    day_list = [(start + timedelta(days=i)).isoformat() for i in range(days)]
    series: dict[str, list[int]] = {}
    for name, query in _COUNTS.items():
        counts = await _per_day(db, query, tenant, start)
        series[name] = [counts.get(d, 0) for d in day_list]

    table = await prices(db, tenant)
    usage = await db.fetch_all(
        "select day, model, sum(input_tokens) as input, sum(output_tokens) as output from usage_daily"
        " where tenant = %s and day >= %s group by day, model",
        (tenant, start),
    )
    tokens = dict.fromkeys(day_list, 0)
    costs = dict.fromkeys(day_list, Decimal(0))
    models: dict[str, dict[str, Any]] = {}
    for row in usage:
        key = row["day"].isoformat()
        if key not in tokens:
            continue
        tokens[key] += int(row["input"]) + int(row["output"])
        price = table.get(row["model"])
        spent = cost(int(row["input"]), int(row["output"]), price)
        costs[key] += spent
        per_model = models.setdefault(row["model"], {"input_tokens": 0, "output_tokens": 0, "cost": Decimal(0)})
        per_model["input_tokens"] += int(row["input"])
        per_model["output_tokens"] += int(row["output"])
        per_model["cost"] += spent
    series["tokens"] = [tokens[d] for d in day_list]
    cost_series = [round(float(costs[d]), 6) for d in day_list]

    return {
        "tenant": tenant,
        "days": day_list,
        "series": series,
        "cost": cost_series,
        "totals": {**{name: sum(values) for name, values in series.items()}, "cost": round(sum(cost_series), 6)},
        "models": [
            {
                "model": model,
                "input_tokens": m["input_tokens"],
                "output_tokens": m["output_tokens"],
                "cost": round(float(m["cost"]), 6),
                "priced": model in table,
            }
            for model, m in sorted(models.items())
        ],
        "prices": [
            {"model": model, "input_per_mtok": float(p[0]), "output_per_mtok": float(p[1])}
            for model, p in sorted(table.items())
        ],
        "top_questions": await top_questions(db, tenant, start),
        "found_nothing": await found_nothing(db, tenant, start),
        "tools": await tool_use(db, tenant, start),
        "errors": await errors(db, tenant, start),
    }


async def _today(db: Database) -> date:
    row = await db.fetch_one("select (now() at time zone 'UTC')::date as today")
    assert row is not None
    today: date = row["today"]
    return today


async def top_questions(db: Database, tenant: str, start: date, *, limit: int = 10) -> list[dict[str, Any]]:
    """The visitors' messages asked most often (the same words, any case and spacing)."""
    rows = await db.fetch_all(
        "select lower(regexp_replace(btrim(m.content), '\\s+', ' ', 'g')) as question, count(*) as n,"
        " count(distinct m.thread_id) as conversations"
        " from messages m join threads t on t.id = m.thread_id"
        " where t.tenant = %s and m.role = 'user' and m.created_at >= %s::date and length(m.content) <= 300"
        " group by 1 order by n desc, question limit %s",
        (tenant, start, limit),
    )
    return [{"question": r["question"], "count": int(r["n"]), "conversations": int(r["conversations"])} for r in rows]


async def found_nothing(db: Database, tenant: str, start: date, *, limit: int = 20) -> list[dict[str, Any]]:
    """Questions whose turn searched and found nothing, or where a tool refused: what is missing.

    The same question (any case and spacing) with the same outcome is one row, most frequent first."""
    rows = await db.fetch_all(
        "select k.kind, k.name, min(q.content) as question, count(*) as n, max(k.created_at) as last_at,"
        " (array_agg(k.thread_id order by k.id desc))[1] as thread_id from turn_marks k"
        " left join lateral (select m.content from messages m where m.thread_id = k.thread_id"
        " and m.run_id = k.run_id and m.role = 'user' order by m.id limit 1) q on true"
        " where k.tenant = %s and k.kind in ('nothing_found', 'refusal') and k.created_at >= %s::date"
        " group by k.kind, k.name, lower(regexp_replace(btrim(coalesce(q.content, '')), '\\s+', ' ', 'g'))"
        " order by n desc, last_at desc limit %s",
        (tenant, start, limit),
    )
    return [
        {
            "kind": r["kind"],
            "tool": r["name"],
            "question": r["question"],
            "count": int(r["n"]),
            "thread_id": r["thread_id"],
            "last_at": int(r["last_at"].timestamp()),
        }
        for r in rows
    ]


async def tool_use(db: Database, tenant: str, start: date) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        "select name, count(*) as calls, count(*) filter (where not ok) as failed from turn_marks"
        " where tenant = %s and kind = 'tool' and created_at >= %s::date group by name order by calls desc, name",
        (tenant, start),
    )
    return [{"tool": r["name"], "calls": int(r["calls"]), "failed": int(r["failed"])} for r in rows]


async def errors(db: Database, tenant: str, start: date) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        "select name, count(*) as n from turn_marks where tenant = %s and kind = 'error' and created_at >= %s::date"
        " group by name order by n desc, name",
        (tenant, start),
    )
    return [{"code": r["name"], "count": int(r["n"])} for r in rows]
