"""The shop's rows (products, prices, customers, invoices) read from Airbyte's records: each column
with its type and the field it comes from."""

from __future__ import annotations

from psycopg import sql

from proxy.shop.airbyte.fields import flag, merged, num, ref, ts, value

COLUMNS: dict[str, list[tuple[str, str, sql.Composable]]] = {
    "products": [
        ("id", "text", sql.SQL("coalesce({}, r.document_id)").format(value(("id",)))),
        ("document_id", "text", sql.SQL("r.document_id")),
        ("name", "text", value(("name",))),
        ("description", "text", value(("description",))),
        ("active", "boolean", flag(value(("active",)))),
        ("category", "text", value(("metadata.category",), loose=("category",))),
        ("created", "timestamptz", ts(value(("created",)))),
    ],
    "prices": [
        ("id", "text", value(("id",))),
        ("product_id", "text", ref("product")),
        ("currency", "text", sql.SQL("lower({})").format(value(("currency",)))),
        ("unit_amount", "bigint", num(value(("unit_amount",)))),
        ("active", "boolean", flag(value(("active",)))),
        ("recurring", "text", value(("recurring.interval",), loose=("interval",))),
    ],
    "customers": [
        ("id", "text", value(("id",))),
        ("email", "text", value(("email",))),
        ("name", "text", value(("name",))),
        ("created", "timestamptz", ts(value(("created",)))),
        ("user_id", "text", value(("metadata.user_id",), loose=("user_id",))),
    ],
    "invoices": [
        ("id", "text", value(("id",))),
        ("number", "text", value(("number",))),
        ("customer_id", "text", ref("customer")),
        ("currency", "text", sql.SQL("lower({})").format(value(("currency",)))),
        ("status", "text", value(("status",))),
        ("total", "bigint", sql.SQL("coalesce({}, 0)").format(num(value(("total",))))),
        ("created", "timestamptz", ts(value(("created",)))),
    ],
}


def no_rows(columns: list[tuple[str, str]]) -> str:
    """A query with these (name, type) columns and no rows: a stream that has no table."""
    return "select " + ", ".join(f"null::{kind} as {name}" for name, kind in columns) + " where false"


def records(stream: str, source: sql.Composable) -> sql.Composable:
    """One row per id of ``stream`` from the merged records in ``source``."""
    cols = sql.SQL(", ").join(
        sql.SQL("{} as {}").format(expr, sql.Identifier(name)) for name, _, expr in COLUMNS[stream]
    )
    return sql.SQL("select distinct on (id) * from (select {} from {} r) x where id is not null order by id").format(
        cols, source
    )


def relation(stream: str, table: str | None) -> sql.Composable:
    """``stream``'s rows from its Airbyte table, or none when it has no table."""
    if table is None:
        return sql.SQL(no_rows([(name, kind) for name, kind, _ in COLUMNS[stream]]))  # constant
    return records(stream, merged(table))
