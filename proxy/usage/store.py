"""``usage_daily``: tokens per tenant, day and model, one upsert per finished turn."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from proxy.store.db import Database


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


class UsageStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self, *, tenant: str, day: date, model: str, input_tokens: int, output_tokens: int, turns: int = 1
    ) -> None:
        """Add one turn's tokens; concurrent turns of any worker add up (one atomic upsert)."""
        await self.db.execute(
            "insert into usage_daily (tenant, day, model, input_tokens, output_tokens, turns)"
            " values (%s, %s, %s, %s, %s, %s)"
            " on conflict (tenant, day, model) do update set"
            "   input_tokens = usage_daily.input_tokens + excluded.input_tokens,"
            "   output_tokens = usage_daily.output_tokens + excluded.output_tokens,"
            "   turns = usage_daily.turns + excluded.turns,"
            "   updated_at = now()",
            (tenant, day, model, input_tokens, output_tokens, turns),
        )

    async def day_total(self, tenant: str, day: date) -> int:
        """Input + output tokens of one tenant on one day, every model (an index range scan)."""
        row = await self.db.fetch_one(
            "select coalesce(sum(input_tokens + output_tokens), 0)::bigint as total"
            " from usage_daily where tenant = %s and day = %s",
            (tenant, day),
        )
        return int(row["total"]) if row else 0

    async def rows(self, *, since: date, tenant: str | None = None) -> list[UsageRow]:
        """Every row from ``since`` on, newest day first, then by tenant and model."""
        query = (
            "select tenant, day, model, input_tokens, output_tokens, turns from usage_daily where day >= %s"
            + (" and tenant = %s" if tenant else "")
            + " order by day desc, tenant, model"
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
