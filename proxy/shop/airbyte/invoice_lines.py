"""Invoice lines read from Airbyte's records: from the native Stripe source's ``invoice_line_items``
stream when it is configured, else from the invoices' ``lines.data`` (the tutorial's
connector-builder source), as JSON in the metadata or as line items in the text."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from proxy.shop.airbyte.fields import merged, num, ref, text_line, value
from proxy.shop.airbyte.records import no_rows

# What every source of lines yields, before lines found twice are merged.
_RAW_LINE = [
    ("invoice_id", "text"),
    ("id", "text"),
    ("seq", "bigint"),
    ("product_id", "text"),
    ("price_id", "text"),
    ("quantity", "bigint"),
    ("amount", "bigint"),
    ("currency", "text"),
    ("description", "text"),
    ("found_in", "text"),
]
LINE_FIELDS = tuple(name for name, _ in _RAW_LINE[3:])
"""A line's fields besides its invoice, id and place in the list."""

# lines.data as Airbyte keeps it in the metadata: nested, or under a dotted metadata field
# ("lines.data" holds the list; "lines.data.*" the list, or the one line itself)
_LINES_JSON = sql.SQL(
    "(select case jsonb_typeof(v) when 'array' then v when 'object' then jsonb_build_array(v) end"
    " from coalesce(r.m #> '{lines,data}', r.m -> 'lines.data', r.m -> 'lines.data.*') v)"
)

# a line item's text starts with its id and ``object: line_item`` (Stripe's key order)
_ITEM_START = r"\n(?=id: [^\n]*\nobject: line_item(\n|$))"
_ITEM = r"^id: [^\n]*\nobject: line_item(\n|$)"


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


def invoice_docs(invoices: str | None) -> sql.Composable:
    """The invoices' merged records with their id and the ``lines.data`` JSON of their metadata."""
    if not invoices:
        return sql.SQL(
            no_rows([("document_id", "text"), ("m", "jsonb"), ("c", "text"), ("id", "text"), ("lines", "jsonb")])
        )
    return sql.SQL("select r.*, {id} as id, {lines} as lines from {m} r").format(
        id=value(("id",)), lines=_LINES_JSON, m=merged(invoices)
    )


def _nested_lines() -> sql.Composable:
    """Lines nested in the invoices under ``lines.data``: JSON in the metadata when it holds them
    (in the list's order), else the line items in the content (split where one starts; no order,
    as the chunks keep none, so they are ordered by id)."""
    from_json = sql.SQL(
        "select i.id as invoice_id, coalesce({lid}, i.id || ':' || e.n) as id, e.n as seq, {cols},"
        " 'invoices.lines.data (metadata)' as found_in"
        " from invoice_docs i cross join lateral jsonb_array_elements(i.lines) with ordinality e(doc, n)"
        " where i.lines is not null"
    ).format(lid=value(("id",), doc="e.doc", text=None), cols=_line_columns("e.doc", None))
    from_text = sql.SQL(
        "select i.id as invoice_id, {lid} as id, null::bigint as seq, {cols}, 'invoices.lines (text)' as found_in"
        " from invoice_docs i cross join lateral regexp_split_to_table(i.c, {split}) s(seg)"
        " where i.lines is null and s.seg ~ {item}"
    ).format(
        lid=text_line("s.seg", "id"),
        cols=_line_columns(None, "s.seg"),
        split=sql.Literal(_ITEM_START),
        item=sql.Literal(_ITEM),
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


def raw_lines(line_items: str | None, invoices: str | None) -> sql.Composable:
    """Every line found, from the ``invoice_line_items`` table, else from ``invoice_docs``."""
    if line_items:
        return _line_items(line_items)
    if invoices:
        return _nested_lines()
    return sql.SQL(no_rows(_RAW_LINE))
