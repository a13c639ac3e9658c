"""``usage_daily``: tokens per tenant, day and model, added by every finished turn.

Each (tenant, day, model) is counted in up to ``SHARDS`` rows; a turn adds to one of them, picked
at random, so the turns of one busy tenant do not queue on a single row's lock. Every read sums
the shards: totals and report rows are exactly what one row per (tenant, day, model) would hold.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from proxy.store.db import Database

SHARDS = 16


@dataclass(frozen=True, slots=True)
class UsageRow:
    tenant: str
    day: date
    model: str
    input_tokens: int
    output_tokens: int
    turns: int

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class UsageEntry:
    """One turn's tokens (or several turns'), to be added to the tenant's count for ``day``."""

    tenant: str
    day: date
    model: str
    input_tokens: int
    output_tokens: int
    turns: int = 1
    shard: int = field(default_factory=lambda: random.randrange(SHARDS))

    def params(self) -> dict[str, Any]:
        """The named parameters of :func:`upsert_sql`."""
        return {
            "u_tenant": self.tenant,
            "u_day": self.day,
            "u_model": self.model,
            "u_shard": self.shard,
            "u_input": self.input_tokens,
            "u_output": self.output_tokens,
            "u_turns": self.turns,
        }


def upsert_sql(condition: str = "true") -> str:
    """Add an entry's counts to its shard row, if ``condition`` (SQL) holds; atomic across workers.

    Also usable as a data-modifying CTE, so a turn's usage is written in the same statement as its
    reply (see ``ThreadStore.finish_turn``).
    """
    return (
        "insert into usage_daily (tenant, day, model, shard, input_tokens, output_tokens, turns)"
        " select %(u_tenant)s, %(u_day)s, %(u_model)s, %(u_shard)s, %(u_input)s, %(u_output)s, %(u_turns)s"
        f" where {condition}"
        " on conflict (tenant, day, model, shard) do update set"
        "   input_tokens = usage_daily.input_tokens + excluded.input_tokens,"
        "   output_tokens = usage_daily.output_tokens + excluded.output_tokens,"
        "   turns = usage_daily.turns + excluded.turns,"
        "   updated_at = now()"
    )


class UsageStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self, *, tenant: str, day: date, model: str, input_tokens: int, output_tokens: int, turns: int = 1
    ) -> None:
        """Add one turn's tokens; concurrent turns of any worker add up (one atomic upsert)."""
        entry = UsageEntry(tenant, day, model, input_tokens, output_tokens, turns)
        await self.db.execute(upsert_sql(), entry.params())

    async def day_total(self, tenant: str, day: date) -> int:
        """Input + output tokens of one tenant on one day, every model and shard (an index range scan)."""
        row = await self.db.fetch_one(
            "select coalesce(sum(input_tokens + output_tokens), 0)::bigint as total"
            " from usage_daily where tenant = %s and day = %s",
            (tenant, day),
        )
        return int(row["total"]) if row else 0

    async def rows(self, *, since: date, tenant: str | None = None) -> list[UsageRow]:
        """One row per day, tenant and model from ``since`` on (shards summed), newest day first."""
        query = (
            "select tenant, day, model, sum(input_tokens)::bigint as input_tokens,"
            " sum(output_tokens)::bigint as output_tokens, sum(turns)::bigint as turns"
            " from usage_daily where day >= %s"
            + (" and tenant = %s" if tenant else "")
            + " group by tenant, day, model order by day desc, tenant, model"
        )
        params = (since, tenant) if tenant else (since,)
        return [
            UsageRow(
                tenant=r["tenant"],
                day=r["day"],
                model=r["model"],
                input_tokens=int(r["input_tokens"]),
                output_tokens=int(r["output_tokens"]),
                turns=int(r["turns"]),
            )
            for r in await self.db.fetch_all(query, params)
        ]
