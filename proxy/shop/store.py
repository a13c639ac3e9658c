"""Idempotent bulk upserts into the shop tables: COPY into a staging table, then one
``insert .. on conflict do update`` that only touches rows whose values changed.

Used by the Stripe sync (a page at a time) and the demo seeder (tens of thousands at once).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb


@dataclass(slots=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: UpsertCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged

    @property
    def changed(self) -> int:
        return self.inserted + self.updated


TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "shop_customers": ("tenant", "id", "email", "name", "phone", "created", "metadata", "deleted", "raw"),
    "shop_products": (
        "tenant",
        "id",
        "name",
        "description",
        "active",
        "default_price",
        "metadata",
        "created",
        "deleted",
        "raw",
    ),
    "shop_prices": (
        "tenant",
        "id",
        "product_id",
        "currency",
        "unit_amount",
        "recurring",
        "active",
        "nickname",
        "created",
        "raw",
    ),
    "shop_invoices": (
        "tenant",
        "id",
        "number",
        "customer_id",
        "customer_email",
        "customer_name",
        "currency",
        "status",
        "total",
        "created",
        "raw",
    ),
}
LINE_COLUMNS = (
    "tenant",
    "invoice_id",
    "id",
    "position",
    "product_id",
    "price_id",
    "description",
    "quantity",
    "amount",
    "currency",
)


def _adapt(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict | list) else value


async def copy_rows(
    conn: AsyncConnection[Any],
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    binary_types: Sequence[str] | None = None,
) -> None:
    """COPY rows in; ``binary_types`` switches to the binary format (vectors travel as floats,
    not as text the server must parse)."""
    statement = sql.SQL("copy {} ({}) from stdin" + (" (format binary)" if binary_types else "")).format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    async with conn.cursor() as cur, cur.copy(statement) as copy:
        if binary_types:
            copy.set_types(list(binary_types))
        for row in rows:
            await copy.write_row([_adapt(v) for v in row])


async def upsert(
    conn: AsyncConnection[Any],
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    touch: str | None = "synced_at",
    binary_types: Sequence[str] | None = None,
) -> UpsertCounts:
    """Insert or update ``rows`` (tuples in ``columns`` order); call inside a transaction."""
    if not rows:
        return UpsertCounts()
    positions = [columns.index(k) for k in key]
    unique = {tuple(row[i] for i in positions): row for row in rows}  # the last version of a key wins
    stage = f"_stage_{table}"
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    await conn.execute(sql.SQL("drop table if exists pg_temp.{}").format(sql.Identifier(stage)))
    await conn.execute(
        sql.SQL("create temp table {} on commit drop as select {} from {} with no data").format(
            sql.Identifier(stage), cols, sql.Identifier(table)
        )
    )
    await copy_rows(conn, stage, columns, unique.values(), binary_types)
    values = [c for c in columns if c not in key]
    sets = [sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in values]
    if touch:
        sets.append(sql.SQL("{} = now()").format(sql.Identifier(touch)))
    old = sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(table), sql.Identifier(c)) for c in values)
    new = sql.SQL(", ").join(sql.SQL("excluded.{}").format(sql.Identifier(c)) for c in values)
    statement = sql.SQL(
        "insert into {table} ({cols}) select {cols} from {stage} "
        "on conflict ({key}) do update set {sets} where ({old}) is distinct from ({new}) "
        "returning (xmax = 0) as inserted"
    ).format(
        table=sql.Identifier(table),
        cols=cols,
        stage=sql.Identifier(stage),
        key=sql.SQL(", ").join(map(sql.Identifier, key)),
        sets=sql.SQL(", ").join(sets),
        old=old,
        new=new,
    )
    cur = await conn.execute(statement)
    flags = [(r["inserted"] if isinstance(r, dict) else r[0]) for r in await cur.fetchall()]
    inserted = sum(1 for f in flags if f)
    updated = len(flags) - inserted
    return UpsertCounts(inserted, updated, len(unique) - inserted - updated)


async def upsert_records(conn: AsyncConnection[Any], table: str, rows: Sequence[Sequence[Any]]) -> UpsertCounts:
    return await upsert(conn, table, TABLE_COLUMNS[table], ("tenant", "id"), rows)


async def replace_lines(
    conn: AsyncConnection[Any], tenant: str, invoice_ids: Sequence[str], lines: Sequence[Sequence[Any]]
) -> None:
    """Lines of a draft invoice can change: each invoice's lines are replaced as a whole."""
    if not invoice_ids:
        return
    await conn.execute(
        "delete from shop_invoice_lines where tenant = %s and invoice_id = any(%s)", (tenant, list(invoice_ids))
    )
    await copy_rows(conn, "shop_invoice_lines", LINE_COLUMNS, lines)


async def analyze(conn_or_db: Any) -> None:
    """Refresh planner statistics after bulk writes: without them the insight queries' joins are
    planned for a handful of rows and can take seconds instead of milliseconds."""
    await conn_or_db.execute(
        "analyze shop_customers, shop_products, shop_prices, shop_invoices, shop_invoice_lines, shop_documents"
    )
