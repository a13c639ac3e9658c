"""Hybrid search over the full demo catalog: a labelled query set, filters, embedder changes."""

from __future__ import annotations

import pytest

from proxy.shop.config import ShopConfig
from proxy.shop.documents import index_name, refresh_documents
from proxy.shop.embedders import OfflineEmbedder
from proxy.store.db import Database

pytestmark = pytest.mark.integration

# query -> the item it should find (any variant of it counts)
LABELLED = {
    "espresso machine for lattes": "Espresso Machine",
    "noise cancelling headphones": "Wireless Noise-Cancelling Headphones",
    "waterproof rain jacket for hiking": "Waterproof Hiking Jacket",
    "non-slip yoga mat": "Yoga Mat",
    "something to sharpen my kitchen knives": "Knife Sharpening Stone",
    "head torch for camping": "Rechargeable Headlamp",
    "height adjustable desk": "Standing Desk",
    "ink for my fountain pen": "Bottled Fountain Pen Ink",
    "expresso machine": "Espresso Machine",  # a typo
    "wireless earbuds for running": "True Wireless Earbuds",
    "warm sleeping bag": "Down Sleeping Bag",
    "cast iron frying pan": "Cast Iron Skillet",
    "teddy bear": "Plush Bear",
    "1000 piece jigsaw": "Wooden Puzzle",
    "turntable for vinyl records": "Record Player",
    "gloves for gardening": "Gardening Gloves",
    "power bank for travelling": "Power Bank",
    "shampoo without plastic": "Solid Shampoo Bar",
}


async def product_ids_by_item(db: Database, tenant: str) -> dict[str, set[str]]:
    rows = await db.fetch_all("select id, name from shop_products where tenant = %s", (tenant,))
    out: dict[str, set[str]] = {}
    for item in LABELLED.values():
        out[item] = {r["id"] for r in rows if item in r["name"]}
        assert out[item], item
    return out


async def test_labelled_queries_find_the_expected_product_in_the_top_5(
    catalog_shop: str, database: Database, call, ok
) -> None:
    expected = await product_ids_by_item(database, catalog_shop)
    misses = []
    for query, item in LABELLED.items():
        got = ok(await call("search_products", {"query": query, "limit": 5}, tenant=catalog_shop))
        if not expected[item] & {p["id"] for p in got["products"]}:
            misses.append((query, [p["name"] for p in got["products"]]))
    assert misses == []


async def test_price_and_currency_filters(catalog_shop: str, database: Database, call, ok) -> None:
    got = ok(
        await call(
            "search_products", {"query": "coffee", "currency": "EUR", "max_price": 50, "limit": 10}, tenant=catalog_shop
        )
    )
    assert got["products"]
    for product in got["products"]:
        assert all(p.endswith(" EUR") for p in product["prices"])
        assert min(float(p.split()[0]) for p in product["prices"]) <= 50
    got = ok(await call("search_products", {"query": "coffee", "min_price": 300, "limit": 10}, tenant=catalog_shop))
    assert got["products"] and all(max(float(p.split()[0]) for p in prod["prices"]) >= 300 for prod in got["products"])


async def test_archived_products_are_not_offered_but_can_be_looked_up(
    catalog_shop: str, database: Database, call, ok
) -> None:
    archived = await database.fetch_one(
        "select id, name from shop_products where tenant = %s and not active order by id limit 1", (catalog_shop,)
    )
    got = ok(await call("search_products", {"query": archived["name"], "limit": 10}, tenant=catalog_shop))
    assert archived["id"] not in {p["id"] for p in got["products"]}
    detail = ok(await call("get_product", {"product_id": archived["id"]}, tenant=catalog_shop))
    assert detail["active"] is False and detail["name"] == archived["name"]
    missing = await call("get_product", {"product_id": "prod_nope"}, tenant=catalog_shop)
    assert not missing.ok and "prod_nope" in missing.output


async def test_vector_query_fits_the_partial_hnsw_index(catalog_shop: str, database: Database) -> None:
    from psycopg import sql

    from proxy.shop.source import NativeShopData, vector_literal

    async with database.transaction() as conn:
        await conn.execute("set local enable_sort = off")  # a 240-row table is cheaper to sort; show the index fits
        cur = await conn.execute(
            sql.SQL("explain ") + NativeShopData(catalog_shop).ann_query(256),
            {"q": vector_literal([1.0] + [0.0] * 255), "n": 10},
        )
        text = "\n".join(r["QUERY PLAN"] for r in await cur.fetchall())
    assert index_name(catalog_shop, "product", 256) in text


async def test_a_different_embedder_is_refused_until_re_embedded(database: Database, call, ok) -> None:
    from proxy.shop.demo_data import DemoSize, seed_demo

    tenant = "shop-reembed"
    await seed_demo(database, tenant, size=DemoSize(products=24, customers=5, invoices=10))
    other = ShopConfig(embedder="offline:128")
    refused = await call("search_products", {"query": "espresso"}, tenant=tenant, shop=other)
    assert not refused.ok
    assert "offline-v1:256" in refused.output and "offline-v1:128" in refused.output and "re-embed" in refused.output

    stats = await refresh_documents(database, tenant, OfflineEmbedder(128))
    docs = await database.fetch_one("select count(*) as n from shop_documents where tenant = %s", (tenant,))
    assert stats.embedded == docs["n"] and stats.dims == 128
    got = ok(await call("search_products", {"query": "espresso machine"}, tenant=tenant, shop=other))
    assert "Espresso Machine" in got["products"][0]["name"]
    indexes = {
        r["indexname"]
        for r in await database.fetch_all("select indexname from pg_indexes where tablename = 'shop_documents'")
    }
    assert index_name(tenant, "product", 128) in indexes and index_name(tenant, "product", 256) not in indexes

    again = await refresh_documents(database, tenant, OfflineEmbedder(128))
    assert again.embedded == 0  # nothing changed, nothing re-embedded
