"""Tables written by Airbyte's PGVector destination, read as they are.

One table per stream with ``document_id, chunk_id, metadata, document_content, embedding``, as the
destination (``airbyte-destination-pgvector``, on the CDK's ``DocumentProcessor``) writes them:

- ``metadata`` (json) holds the record's metadata fields: by default every field, nested objects
  kept as JSON objects; a dotted metadata field (``metadata.category``) is one flat key.
- ``document_content`` holds the text fields (by default every field) as langchain's
  ``stringify_dict`` renders them: ``key: value`` lines, a nested object as an empty ``key: `` line
  followed by its own lines, a list as its items one after another.
- A long record is split into chunks (rows) sharing ``document_id`` and metadata; chunk ids are
  random, so the chunks are merged in the order they were written.

A field is read from the metadata when it is there, else from the text. Invoice lines come from the
native Stripe source's ``invoice_line_items`` stream when configured, else from the invoices'
``lines.data`` (the tutorial's connector-builder source). A full refresh replaces a table and its
indexes with it, so indexes are re-created, idempotently, whenever a table's identity changes.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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


def _lit(value: str) -> sql.Composable:
    return sql.Literal(value)


def _json(doc: str, name: str) -> list[sql.Composable]:
    """A scalar at a dotted path of JSON ``doc``: nested (``{"a": {"b": ..}}``) or, as Airbyte keys a
    dotted metadata field, flat (``{"a.b": ..}``). Objects and lists are not scalars."""
    path = "{" + ",".join(name.split(".")) + "}"
    out: list[sql.Composable] = [
        sql.SQL("(case when jsonb_typeof({d} #> {p}) in ('string', 'number', 'boolean') then {d} #>> {p} end)").format(
            d=sql.SQL(doc), p=_lit(path)
        )
    ]
    if "." in name:
        out.append(
            sql.SQL(
                "(case when jsonb_typeof({d} -> {k}) in ('string', 'number', 'boolean') then {d} ->> {k} end)"
            ).format(d=sql.SQL(doc), k=_lit(name))
        )
    return out


def _text(text: str, key: str) -> sql.Composable:
    """The first ``key: value`` line of ``text`` (langchain's ``stringify_dict``); ``None`` and
    an empty value (a nested object follows) are no value."""
    pattern = r"(?n)^" + re.escape(key) + r": (.*)$"
    return sql.SQL("nullif(nullif(substring({t} from {p}), 'None'), '')").format(t=sql.SQL(text), p=_lit(pattern))


def value(
    names: tuple[str, ...], *, loose: tuple[str, ...] = (), doc: str | None = "r.m", text: str | None = "r.c"
) -> sql.Composable:
    """A field as text: from the metadata JSON first (each of ``names``), else from the content's
    ``name: value`` lines; ``loose`` are keys of nested objects, whose lines the content flattens
    (``pricing: `` / ``price_details: `` / ``product: prod_1``)."""
    parts: list[sql.Composable] = []
    for name in names:
        parts += _json(doc, name) if doc is not None else []
    if text is not None:
        parts += [_text(text, name) for name in names]
        parts += [_text(text, key) for key in loose]
    if not parts:
        return sql.SQL("null::text")
    return sql.SQL("coalesce({})").format(sql.SQL(", ").join(parts)) if len(parts) > 1 else parts[0]


def num(expr: sql.Composable) -> sql.Composable:
    return sql.SQL("(case when {e} ~ '^-?[0-9]+(\\.[0-9]+)?$' then round(({e})::numeric) end)::bigint").format(e=expr)


def ts(expr: sql.Composable) -> sql.Composable:
    return sql.SQL(
        "(case when {e} ~ '^[0-9]+(\\.[0-9]+)?$' then to_timestamp(({e})::numeric)"
        " when {e} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}' then ({e})::timestamptz end)"
    ).format(e=expr)


def flag(expr: sql.Composable) -> sql.Composable:
    return sql.SQL("coalesce(lower({}) not in ('false', '0'), true)").format(expr)


def merged(table: str) -> sql.Composable:
    """One row per record: Airbyte splits a long record into chunks (rows) that share
    ``document_id`` and carry the same metadata; their texts are joined in the order they were
    written (chunk ids are random, so the physical order is the only order there is)."""
    return sql.SQL(
        "(select document_id, (array_agg(metadata::jsonb order by ctid desc))[1] as m,"
        " string_agg(document_content, E'\\n' order by ctid) as c from {} group by document_id)"
    ).format(_table(table))


def ref(name: str, **kw: Any) -> sql.Composable:
    """A reference to another object: its id, or the ``id`` of the object when it is expanded."""
    return sql.SQL("coalesce({}, {})").format(value((name,), **kw), value((name + ".id",), **{**kw, "text": None}))


COLUMNS: dict[str, list[tuple[str, sql.Composable]]] = {
    "products": [
        ("id", sql.SQL("coalesce({}, r.document_id)").format(value(("id",)))),
        ("document_id", sql.SQL("r.document_id")),
        ("name", value(("name",))),
        ("description", value(("description",))),
        ("active", flag(value(("active",)))),
        ("category", value(("metadata.category",), loose=("category",))),
        ("created", ts(value(("created",)))),
    ],
    "prices": [
        ("id", value(("id",))),
        ("product_id", ref("product")),
        ("currency", sql.SQL("lower({})").format(value(("currency",)))),
        ("unit_amount", num(value(("unit_amount",)))),
        ("active", flag(value(("active",)))),
        ("recurring", value(("recurring.interval",), loose=("interval",))),
    ],
    "customers": [
        ("id", value(("id",))),
        ("email", value(("email",))),
        ("name", value(("name",))),
        ("created", ts(value(("created",)))),
        ("user_id", value(("metadata.user_id",), loose=("user_id",))),
    ],
    "invoices": [
        ("id", value(("id",))),
        ("number", value(("number",))),
        ("customer_id", ref("customer")),
        ("currency", sql.SQL("lower({})").format(value(("currency",)))),
        ("status", value(("status",))),
        ("total", sql.SQL("coalesce({}, 0)").format(num(value(("total",))))),
        ("created", ts(value(("created",)))),
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
}
LINE_EMPTY = (
    "select null::text as invoice_id, null::text as id, null::bigint as seq, null::text as product_id,"
    " null::text as price_id, null::bigint as quantity, null::bigint as amount, null::text as currency,"
    " null::text as description, null::text as found_in where false"
)


def _line_columns(doc: str | None, text: str | None) -> sql.Composable:
    """An invoice line's fields, in either of Stripe's shapes: the product at ``price.product``
    (before API 2025-03-31; ``plan.product`` for old subscription lines) or at
    ``pricing.price_details.product``. In the content these are ``product: ...`` lines of nested
    objects, so the first ``product:`` line of a line's text is its product."""
    kw: dict[str, Any] = {"doc": doc, "text": text}
    product = sql.SQL("coalesce({}, {}, {}, {})").format(
        value(("pricing.price_details.product",), **{**kw, "text": None}),
        ref("price.product", **{**kw, "text": None}),
        value(("plan.product",), **{**kw, "text": None}),
        value(("product",), **kw) if text is not None else sql.SQL("null"),
    )
    price = sql.SQL("coalesce({}, {})").format(
        value(("pricing.price_details.price",), **{**kw, "text": None}), ref("price", **kw)
    )
    return sql.SQL(
        "{product} as product_id, {price} as price_id, {qty} as quantity, {amount} as amount,"
        " lower({currency}) as currency, {description} as description"
    ).format(
        product=product,
        price=price,
        qty=num(value(("quantity",), **kw)),
        amount=num(value(("amount",), **kw)),
        currency=value(("currency",), **kw),
        description=value(("description",), **kw),
    )


_LINE_FIELDS = ("product_id", "price_id", "quantity", "amount", "currency", "description", "found_in")
# lines.data as Airbyte keeps it in the metadata: nested, or under a dotted metadata field
# ("lines.data" holds the list; "lines.data.*" the list, or the one line itself)
_LINES_JSON = sql.SQL(
    "(select case jsonb_typeof(v) when 'array' then v when 'object' then jsonb_build_array(v) end"
    " from coalesce(r.m #> '{lines,data}', r.m -> 'lines.data', r.m -> 'lines.data.*') v)"
)

# a line item's text starts with its id and ``object: line_item`` (Stripe's key order)
_ITEM_START = r"\n(?=id: [^\n]*\nobject: line_item(\n|$))"
_ITEM = r"^id: [^\n]*\nobject: line_item(\n|$)"


def _nested_lines() -> sql.Composable:
    """Lines nested in the invoices under ``lines.data``: JSON in the metadata when it holds them,
    else the line items in the content (split where one starts)."""
    from_json = sql.SQL(
        "select i.id as invoice_id, coalesce({lid}, i.id || ':' || e.n) as id, e.n as seq, {cols},"
        " 'invoices.lines.data (metadata)' as found_in"
        " from invoice_docs i cross join lateral jsonb_array_elements(i.lines) with ordinality e(doc, n)"
        " where i.lines is not null"
    ).format(lid=value(("id",), doc="e.doc", text=None), cols=_line_columns("e.doc", None))
    from_text = sql.SQL(
        "select i.id as invoice_id, {lid} as id, s.n as seq, {cols}, 'invoices.lines (text)' as found_in"
        " from invoice_docs i cross join lateral regexp_split_to_table(i.c, {split}) with ordinality s(seg, n)"
        " where i.lines is null and s.seg ~ {item}"
    ).format(
        lid=_text("s.seg", "id"),
        cols=_line_columns(None, "s.seg"),
        split=_lit(_ITEM_START),
        item=_lit(_ITEM),
    )
    return sql.SQL("{} union all {}").format(from_json, from_text)


def _line_items(table: str) -> sql.Composable:
    """The native Stripe source's ``invoice_line_items`` stream: one record per line."""
    return sql.SQL(
        "select coalesce({inv}, {inv2}) as invoice_id, {lid} as id, null::bigint as seq, {cols},"
        " 'invoice_line_items' as found_in from {m} r"
    ).format(
        inv=value(("invoice_id",)),
        inv2=ref("invoice"),
        lid=value(("id",)),
        cols=_line_columns("r.m", "r.c"),
        m=merged(table),
    )


def _relation(stream: str, table: str | None) -> sql.Composable:
    if table is None:
        return sql.SQL("select " + EMPTY[stream] + " where false")  # constant
    cols = sql.SQL(", ").join(sql.SQL("{} as {}").format(expr, sql.Identifier(name)) for name, expr in COLUMNS[stream])
    return sql.SQL("select distinct on (id) * from (select {} from {} r) x where id is not null order by id").format(
        cols, merged(table)
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
        invoices = t("invoices")
        docs = (
            sql.SQL("select r.*, {id} as id, {lines} as lines from {m} r").format(
                id=value(("id",)), lines=_LINES_JSON, m=merged(invoices)
            )
            if invoices
            else sql.SQL(
                "select null::text as document_id, null::jsonb as m, null::text as c, null::text as id,"
                " null::jsonb as lines where false"
            )
        )
        if t("invoice_line_items"):
            raw_lines = _line_items(self.tables["invoice_line_items"])
        elif invoices:
            raw_lines = _nested_lines()
        else:
            raw_lines = sql.SQL(LINE_EMPTY)
        return sql.SQL(
            "with products as materialized ({p}), prices as materialized ({pr}), customers as ({c}),"
            " invoice_docs as materialized ({docs}),"
            " invoices as materialized (select distinct on (id) * from (select {ic} from invoice_docs r) x"
            " where id is not null order by id),"
            " raw_lines as materialized ({l}),"
            " merged_lines as materialized (select invoice_id, id, min(seq) as seq, {first}"
            " from raw_lines where invoice_id is not null and id is not null group by invoice_id, id),"
            " lines as (select l.invoice_id, l.id, (row_number() over (partition by l.invoice_id"
            " order by l.seq nulls last, l.id) - 1)::int as position,"
            " coalesce(l.product_id, pr.product_id) as product_id, coalesce(l.quantity, 1) as quantity,"
            " coalesce(l.amount, 0) as amount, l.currency, l.description, l.found_in"
            " from merged_lines l left join prices pr on pr.id = l.price_id),"
            " product_text as ({text})"
        ).format(
            p=_relation("products", products),
            pr=_relation("prices", t("prices")),
            c=_relation("customers", t("customers")),
            docs=docs,
            ic=sql.SQL(", ").join(sql.SQL("{} as {}").format(e, sql.Identifier(n)) for n, e in COLUMNS["invoices"]),
            l=raw_lines,
            first=sql.SQL(", ").join(
                sql.SQL("(array_agg({c} order by seq) filter (where {c} is not null))[1] as {c}").format(
                    c=sql.Identifier(c)
                )
                for c in _LINE_FIELDS
            ),
            text=text,
        )

    def missing(self, what: str) -> str:
        items, invoices = self.tables.get("invoice_line_items"), self.tables.get("invoices")
        keep = "(Airbyte's default processing, with no fields chosen, keeps every field)"
        if what == "lines":
            if items:
                return (
                    f"the Airbyte table {items!r} (stream invoice_line_items) has no invoice lines with an id and"
                    f" an invoice_id: keep id and invoice_id among its metadata or text fields {keep}"
                )
            return (
                f"the Airbyte tables hold no invoice lines: there is no invoice_line_items table, and the invoices"
                f" in {invoices!r} carry no lines.data in their metadata or text fields. Keep lines.data among the"
                f" invoices' metadata or text fields {keep}, or sync the Stripe source's invoice_line_items stream"
                " and name it in shop.airbyte_tables"
            )
        where = f"{items!r} (stream invoice_line_items)" if items else f"the lines.data of {invoices!r}"
        return (
            f"the invoice lines in {where} have no product: neither pricing.price_details.product nor"
            f" price.product (nor a price of the prices table) is among the fields Airbyte kept. Keep pricing and"
            f" price among the metadata or text fields {keep}"
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
