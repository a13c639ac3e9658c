"""``python -m proxy sync airbyte``: check a tenant's Airbyte tables, (re-)create their indexes and
say what each tool can answer from them, and what is missing when it cannot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg import sql

from proxy.shop.airbyte import AirbyteShopData, ensure_indexes
from proxy.shop.config import AIRBYTE_STREAMS
from proxy.shop.embedders import EmbeddingError
from proxy.shop.source import ShopDataError

if TYPE_CHECKING:
    from proxy.shop.config import ShopConfig
    from proxy.shop.embedders import Embedder
    from proxy.store.db import Database

_COUNTS = (
    " select (select count(*) from products) as products, (select count(*) from prices) as prices,"
    " (select count(*) from customers) as customers, (select count(*) from invoices) as invoices,"
    " (select count(*) from invoices where status = 'paid') as paid, (select count(*) from lines) as lines,"
    " (select count(*) from lines where product_id is not null) as with_product,"
    " (select string_agg(distinct found_in, ', ') from lines) as found_in,"
    " (select count(*) from invoice_docs where lower(coalesce(m #>> '{lines,has_more}',"
    " substring(c from '(?n)^has_more: (.*)$'))) = 'true') as more_lines"
)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no "


async def _table_rows(db: Database, table: str) -> dict[str, Any] | None:
    if (await db.fetch_one("select to_regclass(%s) is not null as ok", (table,)) or {}).get("ok") is not True:
        return None
    return await db.fetch_one(
        sql.SQL("select count(*) as chunks, count(distinct document_id) as records from {}").format(
            sql.Identifier(*table.split("."))
        )
    )


async def check_airbyte(db: Database, tenant: str, shop: ShopConfig, embedder: Embedder) -> tuple[list[str], bool]:
    """The report's lines, and whether the tables can serve the tools at all."""
    out = [f"Airbyte tables of tenant {tenant!r}:"]
    tables = dict(shop.airbyte_tables)
    usable = True
    for stream in AIRBYTE_STREAMS:
        table = tables.get(stream)
        if table is None:
            out.append(f"  {stream:<19} (not configured)")
            continue
        rows = await _table_rows(db, table)
        if rows is None:
            out.append(f"  {stream:<19} {table:<36} does not exist: run the Airbyte sync, or fix shop.airbyte_tables")
            usable = False
            continue
        out.append(f"  {stream:<19} {table:<36} {rows['records']:>8} records in {rows['chunks']} chunks")
    if not usable:
        return out, False
    data = AirbyteShopData(tenant, tables)
    problems = await ensure_indexes(db, tables)
    try:
        dims = await data.vector_dims(db, embedder)
        out.append(f"embeddings: {dims} dimensions, searchable with {embedder.name}")
    except (ShopDataError, EmbeddingError) as exc:
        out.append(f"embeddings: {exc}")
        usable = False
    out += [f"  warning: {p}" for p in problems]
    n = await db.fetch_one(data.relations() + sql.SQL(_COUNTS))
    assert n is not None
    lines_gap = data.missing("lines") if n["invoices"] and not n["lines"] else None
    product_gap = data.missing("products") if n["lines"] and not n["with_product"] else None
    out.append(
        f"invoice lines: {n['lines']}"
        + (f" (from {n['found_in']}), {n['with_product']} with a product" if n["lines"] else "")
    )
    out.append("what the tools can answer:")
    out.append(f"  {_yes(n['products'] > 0)} search_products, get_product: {n['products']} products")
    out.append(
        f"  {_yes(n['prices'] > 0)} prices and price filters: "
        + (f"{n['prices']} prices" if n["prices"] else "no prices (add the Stripe source's prices stream)")
    )
    out.append(f"  {_yes(n['customers'] > 0)} find_customer: {n['customers']} customers")
    out.append(
        f"  {_yes(n['invoices'] > 0)} customer_orders, shop_insights revenue, repeat_purchase_rate, top_customers,"
        f" cheapest/largest_purchase: {n['invoices']} invoices, {n['paid']} paid"
    )
    out.append(f"  {_yes(not lines_gap)} the items of an order: " + (lines_gap or f"{n['lines']} lines"))
    out.append(
        f"  {_yes(not lines_gap and not product_gap)} shop_insights best_sellers, bought_together, second_product: "
        + (lines_gap or product_gap or f"{n['with_product']} lines with a product")
    )
    if n["more_lines"] and "invoice_line_items" not in tables:
        out.append(
            f"  warning: {n['more_lines']} invoices list more lines than they carry (lines.has_more): their other"
            " lines are missing; sync the invoice_line_items stream and name it in shop.airbyte_tables"
        )
    return out, usable
