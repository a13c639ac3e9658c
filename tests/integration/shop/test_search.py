"""Hybrid search over the full demo catalog: a labelled query set, filters, embedder changes."""

from __future__ import annotations

import time
from typing import Any

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


# --- saying when nothing matches: expectations computed in SQL, independently of the search --------


async def cheapest(db: Database, tenant: str, currency: str, *words: str) -> dict[str, Any] | None:
    """The cheapest active product (price in ``currency``) whose name or description has every word."""
    like = " and ".join(["(p.name ilike %s or p.description ilike %s)"] * len(words))
    return await db.fetch_one(
        "select p.id, p.name, min(pr.unit_amount) as amount from shop_products p join shop_prices pr"
        " on pr.tenant = p.tenant and pr.product_id = p.id and pr.active and pr.currency = %s"
        f" where p.tenant = %s and p.active and not p.deleted and {like}"
        " group by p.id, p.name order by 3, 1 limit 1",
        (currency, tenant, *[f"%{w}%" for w in words for _ in range(2)]),
    )


async def test_wireless_headphones_under_100_usd_match_nothing_and_offer_the_cheapest_wireless_item(
    small_shop: str, database: Database, call, ok
) -> None:
    args = {"query": "do you have wireless headphones under $100?", "currency": "USD", "max_price": 100}
    got = ok(await call("search_products", args, tenant=small_shop))

    cheapest_wireless = await cheapest(database, small_shop, "usd", "wireless")
    assert cheapest_wireless is not None and cheapest_wireless["amount"] > 100_00  # the premise, in SQL
    assert await cheapest(database, small_shop, "usd", "headphone") is not None
    assert got["query"] == args["query"] and got["filters"] == {"currency": "USD", "max_price": 100}
    assert got["products"] == [] and got["nothing_matches"] is True
    assert '"wireless headphones"' in got["note"] and "100.00 USD" in got["note"]

    alternatives = {a["id"]: a for a in got["alternatives"]}
    assert cheapest_wireless["id"] in alternatives
    earbuds = alternatives[cheapest_wireless["id"]]
    assert earbuds["prices"] == [f"{cheapest_wireless['amount'] / 100:.2f} USD"]
    assert earbuds["match"] == "partial" and earbuds["matched_words"] == ["wireless"]
    assert earbuds["outside_filters"] == ["max_price"]
    assert all(a["outside_filters"] == ["max_price"] for a in got["alternatives"])
    # the products with both words come first, each group cheapest first
    order = [(a["match"] != "strong", float(a["prices"][0].split()[0])) for a in got["alternatives"]]
    assert order == sorted(order) and order[0][0] is False


async def test_waterproof_jacket_under_150_eur_offers_the_cheapest_jacket_first(
    small_shop: str, database: Database, call, ok
) -> None:
    args = {"query": "waterproof jacket under 150 EUR", "currency": "EUR", "max_price": 150}
    got = ok(await call("search_products", args, tenant=small_shop))

    truth = await cheapest(database, small_shop, "eur", "waterproof", "jacket")
    assert truth is not None and truth["amount"] > 150_00
    assert got["products"] == [] and got["nothing_matches"] is True
    first = got["alternatives"][0]
    assert (first["id"], first["prices"], first["match"]) == (
        truth["id"],
        [f"{truth['amount'] / 100:.2f} EUR"],
        "strong",
    )
    assert first["matched_words"] == ["waterproof", "jacket"] and first["outside_filters"] == ["max_price"]


async def test_a_strong_match_needs_no_alternatives(small_shop: str, database: Database, call, ok) -> None:
    got = ok(await call("search_products", {"query": "Is there an espresso machine for lattes?"}, tenant=small_shop))
    machines = await database.fetch_all(
        "select id from shop_products where tenant = %s and active and name ilike '%%espresso machine%%'",
        (small_shop,),
    )
    assert machines
    top = got["products"][: len(machines)]
    assert {p["id"] for p in top} == {r["id"] for r in machines}
    assert all(p["match"] == "strong" and p["matched_words"] == ["espresso", "machine", "lattes"] for p in top)
    assert got["nothing_matches"] is False and "alternatives" not in got and "note" not in got
    assert got["filters"] == {}
    assert all(p["matched_words"] for p in got["products"])  # nothing without a word of the query


@pytest.mark.parametrize(
    ("query", "name", "words"),
    [
        ("hedphones", "Wireless Noise-Cancelling Headphones", ["hedphones"]),
        ("waterprof jackets", "Waterproof Hiking Jacket", ["waterprof", "jackets"]),
        ("expresso machne", "Espresso Machine", ["expresso", "machne"]),
    ],
)
async def test_typos_still_match_strongly(
    query: str, name: str, words: list[str], small_shop: str, database: Database, call, ok
) -> None:
    got = ok(await call("search_products", {"query": query}, tenant=small_shop))
    expected = await database.fetch_all(
        "select id from shop_products where tenant = %s and active and name like %s", (small_shop, f"%{name}%")
    )
    assert expected
    top = got["products"][: len(expected)]
    assert {p["id"] for p in top} == {r["id"] for r in expected}
    assert all(p["match"] == "strong" and p["matched_words"] == words for p in top)
    assert got["nothing_matches"] is False


async def test_a_partial_match_is_labelled_and_explained(small_shop: str, database: Database, call, ok) -> None:
    unknown = await database.fetch_one(
        "select count(*) as n from shop_documents where tenant = %s and content ilike '%%timer%%'", (small_shop,)
    )
    assert unknown["n"] == 0  # no product has the word "timer"
    got = ok(await call("search_products", {"query": "espresso machine with a timer"}, tenant=small_shop))
    first = got["products"][0]
    assert "Espresso Machine" in first["name"]
    assert first["match"] == "partial" and first["matched_words"] == ["espresso", "machine"]
    assert all(p["match"] == "partial" for p in got["products"])
    assert got["nothing_matches"] is True and got["alternatives"] == []
    assert got["note"].startswith('No product matches all of "espresso machine timer"')


async def test_a_currency_the_shop_does_not_use_offers_the_products_in_theirs(small_shop: str, call, ok) -> None:
    got = ok(await call("search_products", {"query": "coffee", "currency": "jpy"}, tenant=small_shop))
    assert got["products"] == [] and got["nothing_matches"] is True and "in JPY" in got["note"]
    assert got["alternatives"]
    for alt in got["alternatives"]:
        assert alt["outside_filters"] == ["currency"] and alt["match"] == "strong"
        assert {p.split()[1] for p in alt["prices"]} == {"EUR", "USD"}


async def test_only_stop_words_list_products_as_before(small_shop: str, call, ok) -> None:
    got = ok(await call("search_products", {"query": "what products do you have?", "limit": 3}, tenant=small_shop))
    assert len(got["products"]) == 3 and got["nothing_matches"] is False
    assert all(p["match"] == "strong" and p["matched_words"] == [] for p in got["products"])
    cheap = ok(await call("search_products", {"query": "products", "max_price": 1}, tenant=small_shop))
    assert cheap["products"] == [] and cheap["nothing_matches"] is True
    prices = [min(float(p.split()[0]) for p in a["prices"]) for a in cheap["alternatives"]]
    assert prices and prices == sorted(prices)  # the cheapest products first


# --- reading word matches in tiers: all words first, a bounded number of products per tier -------


async def test_products_with_every_word_come_first_even_past_the_tier_cap(
    catalog_shop: str, database: Database, call, ok, monkeypatch: pytest.MonkeyPatch
) -> None:
    from proxy.shop import search_ranked

    monkeypatch.setattr(search_ranked, "TIER_ROWS", 3)  # far fewer than the products with one of the words
    every = await database.fetch_all(
        "select id from shop_products where tenant = %s and active and (name || ' ' || description) ilike"
        " '%%stainless steel%%' and (name || ' ' || description) ilike '%%bottle%%'",
        (catalog_shop,),
    )
    some = await database.fetch_one(
        "select count(*) as n from shop_products where tenant = %s and active and (name || ' ' || description)"
        " ~* '(steel|bottle)'",
        (catalog_shop,),
    )
    assert 0 < len(every) < 5 < some["n"]
    got = ok(await call("search_products", {"query": "stainless steel bottle", "limit": 5}, tenant=catalog_shop))
    strong = [p["id"] for p in got["products"] if p["match"] == "strong"]
    assert set(strong) == {r["id"] for r in every}
    assert [p["match"] for p in got["products"]][: len(strong)] == ["strong"] * len(strong)


async def test_a_word_tier_keeps_the_nearest_of_the_products_it_reads(
    catalog_shop: str, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from proxy.shop import search, search_ranked
    from proxy.shop.embedders import hash_embedding
    from proxy.shop.source import NativeShopData, vector_literal

    monkeypatch.setattr(search_ranked, "CANDIDATES", 1)  # the walk brings one product
    monkeypatch.setattr(search_ranked, "TIER_ROWS", 3)  # the tier keeps three of the many it reads
    rows = await database.fetch_all(
        "select d.record_id as id from shop_documents d join shop_products p on p.tenant = d.tenant and"
        " p.id = d.record_id and p.active and not p.deleted where d.tenant = %s and d.kind = 'product' and"
        " d.fts @@ to_tsquery('english', 'wireless') order by d.embedding::vector(256) <=> %s::vector(256), 1",
        (catalog_shop, vector_literal(hash_embedding("wireless"))),
    )
    assert len(rows) > 8  # many more than the walk and the tier keep
    got = await search.search_products(database, NativeShopData(catalog_shop), OfflineEmbedder(), "wireless", limit=10)
    found = [p["id"] for p in got["products"]]
    assert 3 <= len(found) <= 4 and set(found) == {r["id"] for r in rows[: len(found)]}


async def test_the_fast_search_finds_what_the_exact_one_finds(catalog_shop: str, database: Database) -> None:
    from proxy.shop.search import search_products
    from proxy.shop.source import NativeShopData

    data, embedder = NativeShopData(catalog_shop), OfflineEmbedder()
    for query in [*LABELLED, "stainless steel bottle", "wireless", "leather bag for travel"]:
        fast = await search_products(database, data, embedder, query, limit=5)
        exact = await search_products(database, data, embedder, query, limit=5, exact=True)
        assert [p["match"] for p in fast["products"]] == [p["match"] for p in exact["products"]], query
        assert [len(p["matched_words"]) for p in fast["products"]] == [
            len(p["matched_words"]) for p in exact["products"]
        ], query


async def test_the_shop_words_follow_its_products(database: Database, call, ok) -> None:
    from proxy.shop.demo_data import DemoSize, seed_demo
    from proxy.shop.store import upsert_records

    tenant = "shop-words"
    await seed_demo(database, tenant, size=DemoSize(products=24, customers=5, invoices=10))
    words = {
        r["word"] for r in await database.fetch_all("select word from shop_product_words where tenant = %s", (tenant,))
    }
    assert {"espresso", "headphon", "jacket"} <= words and not any(w.isdigit() for w in words)

    async with database.transaction() as conn:
        await upsert_records(
            conn,
            "shop_products",
            [(tenant, "prod_board", "Alpine Snowboard", "all-mountain snowboard", True, None, {}, None, False, None)],
        )
    await refresh_documents(database, tenant, OfflineEmbedder())
    got = ok(await call("search_products", {"query": "snowbord"}, tenant=tenant))
    assert got["products"][0]["id"] == "prod_board" and got["products"][0]["match"] == "strong"


async def test_alternatives_nearest_to_the_range_first(small_shop: str, database: Database, call, ok) -> None:
    rows = await database.fetch_all(
        "select p.id, min(pr.unit_amount) as lo, max(pr.unit_amount) as hi from shop_products p join shop_prices pr"
        " on pr.tenant = p.tenant and pr.product_id = p.id and pr.active where p.tenant = %s and p.active"
        " and p.name ilike '%%espresso machine%%' group by p.id",
        (small_shop,),
    )
    assert len(rows) >= 2 and all(r["lo"] > 50_00 for r in rows)
    cheap = ok(await call("search_products", {"query": "espresso machine", "max_price": 50}, tenant=small_shop))
    assert cheap["products"] == [] and cheap["filters"] == {"max_price": 50}
    strong = [a["id"] for a in cheap["alternatives"] if a["match"] == "strong"]
    assert strong == [r["id"] for r in sorted(rows, key=lambda r: r["lo"])]
    assert cheap["alternatives"][: len(strong)] == [a for a in cheap["alternatives"] if a["match"] == "strong"]
    assert all(a["outside_filters"] == ["max_price"] for a in cheap["alternatives"])

    dear = ok(await call("search_products", {"query": "espresso machine", "min_price": 100_000}, tenant=small_shop))
    assert dear["products"] == [] and "at or above 100000.00" in dear["note"]
    strong = [a["id"] for a in dear["alternatives"] if a["match"] == "strong"]
    assert strong == [r["id"] for r in sorted(rows, key=lambda r: -r["hi"])]
    assert all(a["outside_filters"] == ["min_price"] for a in dear["alternatives"])


# --- the nearest products within price filters: walked, compared exactly, or walked and then compared --


async def nearest_within(db: Database, tenant: str, text: str, currency: str, max_minor: int) -> list[str]:
    """The five active products nearest to ``text`` with an active price in range, in plain SQL."""
    from proxy.shop.embedders import hash_embedding
    from proxy.shop.source import vector_literal

    rows = await db.fetch_all(
        "select d.record_id from shop_documents d join shop_products p on p.tenant = d.tenant and p.id = d.record_id"
        " where d.tenant = %(t)s and d.kind = 'product' and p.active and not p.deleted and exists (select 1 from"
        " shop_prices pr where pr.tenant = d.tenant and pr.product_id = d.record_id and pr.active and pr.currency ="
        " %(c)s and pr.unit_amount <= %(m)s) order by d.embedding::vector(256) <=> %(q)s::vector(256), d.record_id"
        " limit 5",
        {"t": tenant, "c": currency, "m": max_minor, "q": vector_literal(hash_embedding(text))},
    )
    return [r["record_id"] for r in rows]


@pytest.mark.parametrize(
    ("few_prices", "fetch"),
    [(10**9, 400), (0, 400), (0, 3)],
    ids=["compared-exactly", "walked", "walk-too-short-then-compared"],
)
async def test_the_nearest_products_within_a_price_filter(
    few_prices: int, fetch: int, catalog_shop: str, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from proxy.shop import search, search_ranked
    from proxy.shop.source import NativeShopData

    monkeypatch.setattr(search_ranked, "FEW_PRICES", few_prices)  # fewer prices than this in range: compare exactly
    monkeypatch.setattr(search_ranked, "NEAREST_FETCH", fetch)  # how many products the walk returns before the filter
    data, embedder = NativeShopData(catalog_shop), OfflineEmbedder()
    query = "what do you have"  # no product words: the nearest vectors are the answer
    for currency, max_price in [("eur", 40), ("usd", 25)]:
        expected = await nearest_within(database, catalog_shop, query, currency, max_price * 100)
        assert len(expected) == 5
        got = await search.search_products(
            database, data, embedder, query, currency=currency, max_price=max_price, limit=5
        )
        assert [p["id"] for p in got["products"]] == expected, (currency, max_price)
        assert all(
            min(float(x.split()[0]) for x in p["prices"]) <= max_price and p["prices"][0].endswith(currency.upper())
            for p in got["products"]
        )


async def test_a_search_after_re_embedding_with_another_embedder_is_refused(database: Database, call, ok) -> None:
    from proxy.shop.demo_data import DemoSize, seed_demo

    tenant = "shop-reembed-later"
    await seed_demo(database, tenant, size=DemoSize(products=24, customers=5, invoices=10))
    assert ok(await call("search_products", {"query": "espresso machine"}, tenant=tenant))["products"]
    await refresh_documents(database, tenant, OfflineEmbedder(128))  # the vectors change under the search
    refused = await call("search_products", {"query": "espresso machine"}, tenant=tenant)
    assert not refused.ok and "offline-v1:128" in refused.output and "re-embed" in refused.output
    other = ShopConfig(embedder="offline:128")
    got = ok(await call("search_products", {"query": "espresso machine"}, tenant=tenant, shop=other))
    assert "Espresso Machine" in got["products"][0]["name"]


async def test_the_search_plan_checks_candidates_among_inactive_products_and_tiers_by_combination(
    catalog_shop: str, database: Database
) -> None:
    """The generic plan a search runs: each candidate is looked up among the shop's inactive
    products (a small index), the products found so far are a hash, and a tier of m of the words
    reads the GIN index once per combination of m words."""
    from proxy.shop.price_filters import Filters
    from proxy.shop.search_ranked import prepare
    from proxy.shop.search_words import query_words
    from proxy.shop.source import NativeShopData

    data = NativeShopData(catalog_shop)
    qw = await query_words(database, data, "steel water bottle")
    run = await prepare(data, OfflineEmbedder(), qw, qw.text(), Filters(), dims=256, limit=10, exact=False)
    async with database.transaction() as conn:
        for name, value in run.settings.items():
            await conn.execute("select set_config(%s, %s, true)", (name, value))
        cur = await conn.execute(f"explain (generic_plan, costs off) {run.query.text}")
        plan = "\n".join(r["QUERY PLAN"] for r in await cur.fetchall())
    assert "shop_products_inactive_idx" in plan
    assert "hashed SubPlan" in plan
    assert "fts @@ ANY" in plan


async def test_a_word_list_a_minute_old_answers_at_once_and_is_read_again_in_the_background(
    catalog_shop: str, database: Database
) -> None:
    """No search waits for the shop's word list once it has one: the old list answers, and the next
    search after the background read sees a word added since."""
    from proxy.shop import search_words
    from proxy.shop.source import NativeShopData

    data, key, word = NativeShopData(catalog_shop), repr(NativeShopData(catalog_shop)), "quokkaphone"
    first = await search_words.vocabulary(database, data)
    await database.execute("insert into shop_product_words (tenant, word) values (%s, %s)", (catalog_shop, word))
    try:
        read_at, words = search_words._vocabularies[key]
        search_words._vocabularies[key] = (read_at - search_words.VOCABULARY_TTL, words)
        stale = await search_words.vocabulary(database, data)
        assert stale is first and word not in stale
        refresh = search_words._refreshing[key]
        assert await search_words.vocabulary(database, data) is first  # one refresh at a time
        assert search_words._refreshing.get(key) is refresh
        await refresh
        fresh = await search_words.vocabulary(database, data)
        assert word in fresh and key not in search_words._refreshing
    finally:
        await database.execute("delete from shop_product_words where tenant = %s and word = %s", (catalog_shop, word))
        search_words._vocabularies.pop(key, None)


async def test_a_failed_read_of_the_word_list_keeps_the_old_one_a_minute_more(catalog_shop: str) -> None:
    """While the database fails, not every search starts another read of the list."""
    from proxy.shop import search_words
    from proxy.shop.query_words import Vocabulary
    from proxy.shop.source import NativeShopData

    class Failing:
        async def fetch_all(self, *_: object) -> list[dict[str, object]]:
            raise OSError("connection refused")

    data = NativeShopData(catalog_shop)
    key, old = repr(data), Vocabulary(["kettle"])
    search_words._vocabularies[key] = (time.monotonic() - search_words.VOCABULARY_TTL, old)
    try:
        assert await search_words.vocabulary(Failing(), data) is old  # type: ignore[arg-type]
        with pytest.raises(OSError):
            await search_words._refreshing[key]
        assert key not in search_words._refreshing
        assert time.monotonic() - search_words._vocabularies[key][0] < search_words.VOCABULARY_TTL
        assert await search_words.vocabulary(Failing(), data) is old  # type: ignore[arg-type]
        assert key not in search_words._refreshing  # no new read for a minute
    finally:
        search_words._vocabularies.pop(key, None)
