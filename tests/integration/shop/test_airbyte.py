"""Tables shaped like Airbyte's PGVector destination writes them serve the same tools, with the
same answers as our own tables holding the same shop."""

from __future__ import annotations

import json
from typing import Any

import pytest
from psycopg import sql

from proxy.shop.config import ShopConfig
from proxy.shop.demo_data import SMALL
from proxy.shop.embedders import hash_embedding
from proxy.shop.source import vector_literal
from proxy.shop.stripe_fake import FakeStripe
from proxy.store.db import Database
from proxy.visitors import Visitor

pytestmark = pytest.mark.integration
PREFIX = "ab_small_"
STREAMS = {
    "products": "products",
    "prices": "prices",
    "customers": "customers",
    "invoices": "invoices",
    "invoice_line_items": "invoice_line_items",
}
# stream -> (text fields, metadata fields); None means "all fields", as Airbyte does when left empty
PROCESSING: dict[str, tuple[list[str] | None, list[str] | None]] = {
    "products": (["name", "description"], None),
    "prices": (["id"], None),
    "customers": (["name", "email"], ["id", "email", "name", "created"]),
    "invoices": (["number"], None),
    "invoice_line_items": (None, ["id", "invoice_id", "quantity", "amount", "currency"]),
}


def airbyte_metadata(record: dict[str, Any], fields: list[str] | None, stream: str) -> dict[str, Any]:
    """Only strings, numbers (as floats), booleans and lists of strings survive, like Airbyte's."""
    picked = record if fields is None else {k: record[k] for k in fields if k in record}
    out: dict[str, Any] = {}
    for key, value in picked.items():
        if isinstance(value, bool | str):
            out[key] = value
        elif isinstance(value, int | float):
            out[key] = float(value)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[key] = value
    return {**out, "_ab_stream": stream, "_ab_record_id": f"{stream}_{record['id']}"}


def airbyte_text(record: dict[str, Any], fields: list[str] | None) -> str:
    picked = record if fields is None else {k: record[k] for k in fields if k in record}
    return "\n".join(f"{key}: {value}" for key, value in picked.items())  # nested objects as Python reprs


def stripe_records(fake: FakeStripe) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in STREAMS}
    for kind in ("products", "prices", "customers", "invoices"):
        for obj in fake.objects[kind].values():
            rendered = fake._render(kind, obj, "2024-06-20")
            if kind == "invoices":
                for line in fake._lines(obj, "2024-06-20"):
                    out["invoice_line_items"].append({**line, "invoice_id": obj["id"]})
                rendered.pop("lines")
            out[kind].append(rendered)
    return out


async def write_airbyte_tables(
    db: Database, records: dict[str, list[dict[str, Any]]], dims: int = 256
) -> dict[str, str]:
    tables = {}
    for stream, rows in records.items():
        table = PREFIX + STREAMS[stream]
        tables[stream] = table
        text_fields, meta_fields = PROCESSING[stream]
        await db.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(table)))
        await db.execute(
            sql.SQL(
                "create table {} (document_id varchar, chunk_id varchar, metadata json, document_content text,"
                " embedding vector({}))"
            ).format(sql.Identifier(table), sql.Literal(dims))
        )
        values = []
        for n, record in enumerate(rows):
            text, meta = airbyte_text(record, text_fields), json.dumps(airbyte_metadata(record, meta_fields, stream))
            doc_id = f"Stream_{stream}_Key_{record['id']}"
            chunks = (
                text.split("\n", 1) if stream == "products" and n == 0 else [text]
            )  # one record split in two chunks
            for i, chunk in enumerate(chunks):
                values.append((doc_id, f"{doc_id}_{i}", meta, chunk, vector_literal(hash_embedding(chunk, dims))))
        async with db.transaction() as conn, conn.cursor() as cur:
            await cur.executemany(
                sql.SQL("insert into {} values (%s, %s, %s, %s, %s::vector)").format(sql.Identifier(table)), values
            )
    return tables


@pytest.fixture(scope="module")
async def airbyte_shop(database: Database, small_shop: str) -> tuple[str, ShopConfig]:
    fake = FakeStripe()
    fake.load_demo(size=SMALL)
    tables = await write_airbyte_tables(database, stripe_records(fake))
    return "airbyte-small", ShopConfig(source="airbyte", airbyte_tables=tables)


QUESTIONS = [
    {"question": "best_sellers", "by": "revenue", "limit": 5},
    {"question": "best_sellers", "date_from": "2026-01-01", "date_to": "2026-01-31"},
    {"question": "bought_together", "limit": 5},
    {"question": "second_product", "basis": "order", "limit": 5},
    {"question": "second_product", "basis": "customer", "limit": 5},
    {"question": "largest_purchase", "currency": "usd"},
    {"question": "cheapest_purchase"},
    {"question": "revenue", "by_month": True},
    {"question": "repeat_purchase_rate"},
    {"question": "top_customers", "limit": 5},
]


@pytest.mark.parametrize("args", QUESTIONS, ids=lambda a: "-".join(str(v) for v in a.values()))
async def test_insights_match_our_own_tables(
    args: dict[str, Any], airbyte_shop, small_shop: str, call, ok, staff
) -> None:
    tenant, shop = airbyte_shop
    native = ok(await call("shop_insights", args, tenant=small_shop, visitor=staff))
    airbyte = ok(await call("shop_insights", args, tenant=tenant, shop=shop, visitor=staff))
    assert airbyte == native


async def test_search_and_product_details(airbyte_shop, small_shop: str, call, ok) -> None:
    tenant, shop = airbyte_shop
    for query in ("espresso machine", "noise cancelling headphones", "cast iron frying pan"):
        native = ok(await call("search_products", {"query": query}, tenant=small_shop))
        airbyte = ok(await call("search_products", {"query": query}, tenant=tenant, shop=shop))
        assert airbyte["products"][0]["id"] == native["products"][0]["id"], query
    filtered = ok(
        await call(
            "search_products", {"query": "coffee", "currency": "usd", "max_price": 200}, tenant=tenant, shop=shop
        )
    )
    assert filtered["products"] and all(
        p.endswith("USD") and float(p.split()[0]) <= 200 for c in filtered["products"] for p in c["prices"]
    )
    product = ok(await call("get_product", {"product_id": "prod_demo0000"}, tenant=tenant, shop=shop))
    assert product["name"].endswith("Espresso Machine") and product["description"].startswith("15-bar")  # merged chunks


async def test_policy_applies_to_airbyte_data(airbyte_shop, database: Database, call, ok) -> None:
    tenant, shop = airbyte_shop
    me = await database.fetch_one("select email from shop_customers where tenant = 'shop-small' order by id limit 1")
    visitor = Visitor("user:x", "identified", "x", me["email"])
    mine = ok(await call("customer_orders", {}, tenant=tenant, shop=shop, visitor=visitor))
    assert mine["customer_ids"] == ["cus_demo00000"]
    assert not (
        await call("customer_orders", {"customer_id": "cus_demo00001"}, tenant=tenant, shop=shop, visitor=visitor)
    ).ok
    assert not (await call("find_customer", {"email": me["email"]}, tenant=tenant, shop=shop)).ok


async def test_a_full_refresh_gets_its_indexes_back(airbyte_shop, database: Database, call, ok) -> None:
    tenant, shop = airbyte_shop
    table = shop.airbyte_tables["products"]

    async def hnsw() -> list[str]:
        rows = await database.fetch_all("select indexdef from pg_indexes where tablename = %s", (table,))
        return [r["indexdef"] for r in rows if "hnsw" in r["indexdef"]]

    ok(await call("search_products", {"query": "mug"}, tenant=tenant, shop=shop))
    assert await hnsw()
    await database.execute(
        sql.SQL("create table {} as table {}").format(sql.Identifier(table + "_new"), sql.Identifier(table))
    )
    await database.execute(sql.SQL("drop table {}").format(sql.Identifier(table)))
    await database.execute(
        sql.SQL("alter table {} rename to {}").format(sql.Identifier(table + "_new"), sql.Identifier(table))
    )
    assert not await hnsw()
    assert ok(await call("search_products", {"query": "coffee grinder"}, tenant=tenant, shop=shop))["products"]
    assert await hnsw()


async def test_mismatched_dimensions_are_refused(airbyte_shop, call) -> None:
    tenant, shop = airbyte_shop
    other = shop.model_copy(update={"embedder": "offline:128"})
    outcome = await call("search_products", {"query": "mug"}, tenant=tenant, shop=other)
    assert not outcome.ok and "256-dimensional" in outcome.output and "128-dimensional" in outcome.output
    missing = ShopConfig(source="airbyte", airbyte_tables={"products": "no_such_table"})
    outcome = await call("search_products", {"query": "mug"}, tenant=tenant, shop=missing)
    assert not outcome.ok and "does not exist" in outcome.output
