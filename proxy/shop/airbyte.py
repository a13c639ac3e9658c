"""Tables written by Airbyte's PGVector destination, read as they are.

One table per stream with ``document_id, chunk_id, metadata, document_content, embedding``. A
record's fields are read from ``metadata`` (Airbyte's metadata fields) or else from its
``key: value`` lines in ``document_content`` (its text fields; nested objects appear there as
Python reprs, which are searched for ``'product': '...'``). Chunks of one record are merged.
A full refresh replaces a table and its indexes with it, so indexes are re-created, idempotently,
whenever a table's identity changes.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from proxy.shop.embedders import Embedder
from proxy.shop.source import ShopDataError

if TYPE_CHECKING:
    from proxy.store.db import Database

logger = logging.getLogger(__name__)
_indexed: set[int] = set()  # table oids whose indexes this process has ensured


def _table(name: str) -> sql.Composable:
    return sql.Identifier(*name.split("."))


def f(name: str) -> sql.Composable:
    """A field of the merged record ``r`` (metadata ``m``, content ``c``), as text."""
    pattern = r"(?n)^" + re.escape(name) + r": (.*)$"
    return sql.SQL("nullif(coalesce(r.m->>{n}, substring(r.c from {p})), 'None')").format(
        n=sql.Literal(name), p=sql.Literal(pattern)
    )


def nested(line: str, key: str) -> sql.Composable:
    """``'key': 'value'`` inside a ``line: {...}`` repr of a nested object."""
    return sql.SQL("substring(r.c from {})").format(sql.Literal(rf"(?n)^{re.escape(line)}: .*'{key}': '([^']+)'"))


def num(expr: sql.Composable) -> sql.Composable:
    return sql.SQL("(case when {e} ~ '^-?[0-9]+(\\.[0-9]+)?$' then round(({e})::numeric) end)::bigint").format(e=expr)


def ts(expr: sql.Composable) -> sql.Composable:
    return sql.SQL(
        "(case when {e} ~ '^[0-9]+(\\.[0-9]+)?$' then to_timestamp(({e})::numeric)"
        " when {e} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}' then ({e})::timestamptz end)"
    ).format(e=expr)


def flag(expr: sql.Composable) -> sql.Composable:
    return sql.SQL("coalesce(lower({}) not in ('false', '0'), true)").format(expr)


def _merged(table: str) -> sql.Composable:
    return sql.SQL(
        "(select document_id, (array_agg(metadata::text order by chunk_id))[1]::jsonb as m,"
        " string_agg(document_content, E'\\n' order by chunk_id) as c from {} group by document_id) r"
    ).format(_table(table))


COLUMNS: dict[str, list[tuple[str, sql.Composable]]] = {
    "products": [
        ("id", sql.SQL("coalesce({}, r.document_id)").format(f("id"))),
        ("document_id", sql.SQL("r.document_id")),
        ("name", f("name")),
        ("description", f("description")),
        ("active", flag(f("active"))),
        ("category", sql.SQL("coalesce({}, {})").format(f("metadata.category"), nested("metadata", "category"))),
        ("created", ts(f("created"))),
    ],
    "prices": [
        ("id", f("id")),
        ("product_id", sql.SQL("coalesce({}, {})").format(f("product"), f("product.id"))),
        ("currency", sql.SQL("lower({})").format(f("currency"))),
        ("unit_amount", num(f("unit_amount"))),
        ("active", flag(f("active"))),
        ("recurring", sql.SQL("coalesce({}, {})").format(f("recurring.interval"), nested("recurring", "interval"))),
    ],
    "customers": [
        ("id", f("id")),
        ("email", f("email")),
        ("name", f("name")),
        ("created", ts(f("created"))),
        ("user_id", sql.SQL("coalesce({}, {})").format(f("metadata.user_id"), nested("metadata", "user_id"))),
    ],
    "invoices": [
        ("id", f("id")),
        ("number", f("number")),
        ("customer_id", sql.SQL("coalesce({}, {})").format(f("customer"), f("customer.id"))),
        ("currency", sql.SQL("lower({})").format(f("currency"))),
        ("status", f("status")),
        ("total", sql.SQL("coalesce({}, 0)").format(num(f("total")))),
        ("created", ts(f("created"))),
    ],
    "invoice_line_items": [
        ("invoice_id", sql.SQL("coalesce({}, {})").format(f("invoice_id"), f("invoice"))),
        ("id", f("id")),
        (
            "product_id",
            sql.SQL("coalesce({}, {}, {}, {})").format(
                f("price.product"),
                f("pricing.price_details.product"),
                nested("price", "product"),
                nested("pricing", "product"),
            ),
        ),
        ("quantity", sql.SQL("coalesce({}, 1)").format(num(f("quantity")))),
        ("amount", sql.SQL("coalesce({}, 0)").format(num(f("amount")))),
        ("currency", sql.SQL("lower({})").format(f("currency"))),
        ("description", f("description")),
    ],
}
EMPTY = {
    "products": "null::text as id, null::text as document_id, null::text as name, null::text as description,"
    " null::boolean as active, null::text as category, null::timestamptz as created",
    "prices": "null::text as id, null::text as product_id, null::text as currency, null::bigint as unit_amount,"
    " null::boolean as active, null::text as recurring",
    "customers": "null::text as id, null::text as email, null::text as name, null::timestamptz as created,"
    " null::text as user_id",
    "invoices": "null::text as id, null::text as number, null::text as customer_id, null::text as currency,"
    " null::text as status, null::bigint as total, null::timestamptz as created",
    "invoice_line_items": "null::text as invoice_id, null::text as id, null::text as product_id, null::bigint"
    " as quantity,"
    " null::bigint as amount, null::text as currency, null::text as description",
}


def _relation(stream: str, table: str | None) -> sql.Composable:
    if table is None:
        return sql.SQL("select " + EMPTY[stream] + " where false")  # constant
    cols = sql.SQL(", ").join(sql.SQL("{} as {}").format(expr, sql.Identifier(name)) for name, expr in COLUMNS[stream])
    return sql.SQL("select distinct on (id) * from (select {} from {}) x where id is not null order by id").format(
        cols, _merged(table)
    )


@dataclass(frozen=True, slots=True)
class AirbyteShopData:
    tenant: str
    tables: dict[str, str] = field(default_factory=dict)

    def relations(self) -> sql.Composable:
        t = self.tables.get
        products = t("products")
        text = (
            sql.SQL(
                "select p.id, to_tsvector('english', d.document_content) as fts from {} d join products p on"
                " p.document_id = d.document_id"
            ).format(_table(products))
            if products
            else sql.SQL("select null::text as id, null::tsvector as fts where false")
        )
        return sql.SQL(
            "with products as materialized ({p}), prices as materialized ({pr}), customers as ({c}), invoices"
            " as materialized ({i}),"
            " raw_lines as materialized ({l}),"
            " lines as (select invoice_id, id, (row_number() over (partition by invoice_id order by id) -"
            " 1)::int as position,"
            " product_id, quantity, amount, currency, description from raw_lines),"
            " product_text as ({text})"
        ).format(
            p=_relation("products", products),
            pr=_relation("prices", t("prices")),
            c=_relation("customers", t("customers")),
            i=_relation("invoices", t("invoices")),
            l=_relation("invoice_line_items", t("invoice_line_items")),
            text=text,
        )

    async def vector_dims(self, db: Database, embedder: Embedder) -> int:
        table = self.tables["products"]
        row = await db.fetch_one(
            "select c.oid::bigint as oid, a.atttypmod as dims from pg_class c join pg_attribute a on a.attrelid = c.oid"
            " where c.oid = to_regclass(%s) and a.attname = 'embedding' and not a.attisdropped",
            (table,),
        )
        if row is None:
            raise ShopDataError(
                f"the Airbyte table {table!r} (stream products) does not exist or has no embedding column:"
                " run the Airbyte sync, or fix shop.airbyte_tables"
            )
        dims = row["dims"]
        if dims is None or dims <= 0:
            sample = await db.fetch_one(
                sql.SQL("select vector_dims(embedding) as d from {} where embedding is not null limit 1").format(
                    _table(table)
                )
            )
            if sample is None:
                raise ShopDataError(f"the Airbyte table {table!r} has no embeddings yet")
            dims = sample["d"]
        if embedder.dims is not None and embedder.dims != dims:
            raise ShopDataError(
                f"the Airbyte table {table!r} holds {dims}-dimensional embeddings but this tenant's embedder"
                f" {embedder.name}"
                f" makes {embedder.dims}-dimensional ones; set shop.embedder to the model Airbyte embeds with"
                " (e.g. openai:text-embedding-3-small)"
            )
        if row["oid"] not in _indexed:
            await ensure_indexes(db, self.tables)
            _indexed.add(row["oid"])
        return int(dims)

    def ann_query(self, dims: int) -> sql.Composable:
        return sql.SQL(
            "select p.id, t.distance from (select document_id, embedding <=> %(q)s::vector as distance from {}"
            " order by embedding <=> %(q)s::vector limit %(n)s) t join products p on p.document_id = t.document_id"
        ).format(_table(self.tables["products"]))


def _index(table: str, what: str) -> sql.Identifier:
    digest = hashlib.blake2b(table.encode(), digest_size=4).hexdigest()
    return sql.Identifier(f"{table.split('.')[-1][:36]}_{digest}_{what}")


async def ensure_indexes(db: Database, tables: dict[str, str]) -> list[str]:
    """HNSW and full-text indexes on the products table, document_id indexes on all; idempotent.
    Returns problems (e.g. we do not own the table) instead of failing: search works without them."""
    statements = []
    for stream, table in tables.items():
        statements.append(
            sql.SQL("create index if not exists {} on {} (document_id)").format(_index(table, "doc"), _table(table))
        )
        if stream == "products":
            statements.append(
                sql.SQL("create index if not exists {} on {} using hnsw (embedding vector_cosine_ops)").format(
                    _index(table, "hnsw"), _table(table)
                )
            )
            statements.append(
                sql.SQL(
                    "create index if not exists {} on {} using gin (to_tsvector('english', document_content))"
                ).format(_index(table, "fts"), _table(table))
            )
    problems = []
    for statement in statements:
        try:
            await db.execute(statement)
        except psycopg.Error as exc:
            logger.warning("cannot index an Airbyte table: %s", exc)
            problems.append(str(exc).splitlines()[0])
    return problems
