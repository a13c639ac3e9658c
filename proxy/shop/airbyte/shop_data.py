"""The Airbyte tables as the shop's data: the relations the shop tools query, what is missing from
them when a tool finds nothing, and vector search over the products' embeddings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from psycopg import sql

from proxy.shop.airbyte.fields import table
from proxy.shop.airbyte.indexes import ensure_indexes_once
from proxy.shop.airbyte.invoice_lines import LINE_FIELDS, invoice_docs, raw_lines
from proxy.shop.airbyte.records import no_rows, records, relation
from proxy.shop.embedders import Embedder
from proxy.shop.source import ShopDataError

if TYPE_CHECKING:
    from proxy.store.db import Database


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
            ).format(table(products))
            if products
            else sql.SQL(no_rows([("id", "text"), ("fts", "tsvector")]))
        )
        return sql.SQL(
            "with products as materialized ({p}), prices as materialized ({pr}), customers as ({c}),"
            " invoice_docs as materialized ({docs}),"
            " invoices as materialized ({i}),"
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
            p=relation("products", products),
            pr=relation("prices", t("prices")),
            c=relation("customers", t("customers")),
            docs=invoice_docs(t("invoices")),
            i=records("invoices", sql.SQL("invoice_docs")),
            l=raw_lines(t("invoice_line_items"), t("invoices")),
            first=sql.SQL(", ").join(
                sql.SQL("(array_agg({c} order by seq) filter (where {c} is not null))[1] as {c}").format(
                    c=sql.Identifier(c)
                )
                for c in LINE_FIELDS
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
        name = self.tables["products"]
        row = await db.fetch_one(
            "select c.oid::bigint as oid, a.atttypmod as dims from pg_class c join pg_attribute a on a.attrelid = c.oid"
            " where c.oid = to_regclass(%s) and a.attname = 'embedding' and not a.attisdropped",
            (name,),
        )
        if row is None:
            raise ShopDataError(
                f"the Airbyte table {name!r} (stream products) does not exist or has no embedding column:"
                " run the Airbyte sync, or fix shop.airbyte_tables"
            )
        dims = row["dims"]
        if dims is None or dims <= 0:
            sample = await db.fetch_one(
                sql.SQL("select vector_dims(embedding) as d from {} where embedding is not null limit 1").format(
                    table(name)
                )
            )
            if sample is None:
                raise ShopDataError(f"the Airbyte table {name!r} has no embeddings yet")
            dims = sample["d"]
        if embedder.dims is not None and embedder.dims != dims:
            raise ShopDataError(
                f"the Airbyte table {name!r} holds {dims}-dimensional embeddings but this tenant's embedder"
                f" {embedder.name}"
                f" makes {embedder.dims}-dimensional ones; set shop.embedder to the model Airbyte embeds with"
                " (e.g. openai:text-embedding-3-small)"
            )
        await ensure_indexes_once(db, self.tables, row["oid"])
        return int(dims)

    def ann_query(self, dims: int) -> sql.Composable:
        return sql.SQL(
            "select p.id, t.distance from (select document_id, embedding <=> %(q)s::vector as distance from {}"
            " order by embedding <=> %(q)s::vector limit %(n)s) t join products p on p.document_id = t.document_id"
        ).format(table(self.tables["products"]))
