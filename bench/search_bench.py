"""Hybrid product search at scale: latency (p50/p95/p99) without and with a price filter, recall@10
of the whole search against an exact one (every vector within the filters compared, every word
match read), and recall@10 of the HNSW walk alone against exact nearest neighbours; on N synthetic
products (default 100,000) with the offline embedder, on the embedded Postgres (or DATABASE_URL).

    .venv/bin/python bench/search_bench.py [--products 100000] [--queries 200] [--recall-queries 50]
    .venv/bin/python bench/search_bench.py --products 1000000 --data-dir /tmp/search-bench-1m \
        --recall-queries 20 --ef 200

The catalogue is generated once per data folder and reused by later runs. It is loaded with COPY
(products, prices, then the documents with their embeddings, made in two processes), and the HNSW
index is built once at the end with enough ``maintenance_work_mem`` to build it in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pgvector import Vector
from pgvector.psycopg import register_vector_async
from psycopg.conninfo import make_conninfo

from proxy.shop import demo_catalog as cat
from proxy.shop import search_ranked
from proxy.shop.documents import DOC_COLUMNS, DOC_TYPES, drop_stale_indexes, ensure_hnsw_index, render_products
from proxy.shop.embedders import OfflineEmbedder, hash_embedding
from proxy.shop.search import search_products
from proxy.shop.source import NativeShopData, vector_literal
from proxy.shop.store import TABLE_COLUMNS, copy_rows
from proxy.store import pg_server
from proxy.store.db import Database, start_embedded_postgres

TENANT = "bench-search"
SEARCH_MODULES = (
    "search",
    "search_words",
    "price_filters",
    "search_alternatives",
    "search_cards",
    "search_near",
    "search_ranked",
    "search_statement",
    "search_sql",
)
ADJECTIVES = [
    "Compact",
    "Deluxe",
    "Travel",
    "Classic",
    "Mini",
    "Ultra",
    "Eco",
    "Heavy-Duty",
    "Lightweight",
    "Vintage",
    "Modern",
    "Smart",
    "Premium",
    "Essential",
    "Outdoor",
    "Indoor",
    "Kids",
    "Studio",
    "Family",
    "Everyday",
]
COLOURS = [
    "black",
    "white",
    "navy",
    "olive",
    "sand",
    "red",
    "grey",
    "forest green",
    "sky blue",
    "charcoal",
    "mustard",
    "plum",
]
MATERIALS = [
    "bamboo",
    "steel",
    "oak",
    "linen",
    "wool",
    "leather",
    "recycled plastic",
    "ceramic",
    "cotton",
    "aluminium",
    "walnut",
    "glass",
]
ITEMS = [(category, item, desc) for category, items in cat.CATEGORIES.items() for item, _, desc in items]


def catalogue(n: int, rng: random.Random) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    products, prices, created = [], [], datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(n):
        category, item, desc = ITEMS[i % len(ITEMS)]
        adj, colour, material = rng.choice(ADJECTIVES), rng.choice(COLOURS), rng.choice(MATERIALS)
        name = f"{rng.choice(cat.LINES)} {adj} {item} in {colour}"
        text = f"{desc[0].upper()}{desc[1:]}. Made of {material}. Model {i:06d}."
        products.append(
            (TENANT, f"prod_b{i:06d}", name, text, True, None, {"category": category}, created, False, None)
        )
        prices.append(
            (
                TENANT,
                f"price_b{i:06d}",
                f"prod_b{i:06d}",
                "eur",
                rng.randrange(500, 60000),
                None,
                True,
                None,
                created,
                None,
            )
        )
    return products, prices


def queries(n: int, rng: random.Random) -> list[str]:
    out = []
    for _ in range(n):
        _, item, desc = rng.choice(ITEMS)
        style = rng.randrange(4)
        if style == 0:
            out.append(f"{rng.choice(COLOURS)} {item.lower()}")
        elif style == 1:
            out.append(f"{rng.choice(MATERIALS)} {item.lower()} {rng.choice(ADJECTIVES).lower()}")
        elif style == 2:  # a typo
            word = item.lower()
            cut = rng.randrange(1, max(2, len(word) - 1))
            out.append(word[:cut] + word[cut + 1 :])
        else:
            out.append(" ".join(desc.split()[:5]))
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _embed_chunk(texts: list[str]) -> list[list[float]]:
    return [hash_embedding(t) for t in texts]


async def seed(url: str, n: int) -> None:
    """Products and prices by COPY, their documents rendered as the sync renders them, embedded in
    two processes and copied in binary, then the HNSW index built in memory."""
    started = time.perf_counter()
    # the index is built in memory when it fits in maintenance_work_mem (about 1.4 KB per product)
    mwm = max(256, n * 2 // 1000)
    seed_url = make_conninfo(url, options=f"-c maintenance_work_mem={mwm}MB")
    async with Database.connect(seed_url, min_size=1, max_size=2) as db:
        await drop_stale_indexes(db, TENANT, set())  # the index first: deleting through it is slow
        await db.execute("delete from shop_documents where tenant = %s", (TENANT,))
        await db.execute("delete from shop_embedding_state where tenant = %s", (TENANT,))
        await db.execute("delete from shop_prices where tenant = %s", (TENANT,))
        await db.execute("delete from shop_products where tenant = %s", (TENANT,))
        products, prices = catalogue(n, random.Random(7))
        async with db.transaction() as conn:
            await copy_rows(conn, "shop_products", TABLE_COLUMNS["shop_products"], products)
            await copy_rows(conn, "shop_prices", TABLE_COLUMNS["shop_prices"], prices)
        del products, prices
        texts = sorted((await render_products(db, TENANT)).items())
        embedder = OfflineEmbedder()
        dims = embedder.dims or 256
        print(f"  {n} products and prices copied, {time.perf_counter() - started:.0f} s", flush=True)
        step = 20_000
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(2) as pool:
            pending = loop.run_in_executor(pool, _embed_chunk, [t for _, t in texts[:step]])
            for start in range(0, len(texts), step):
                chunk = texts[start : start + step]
                vectors = await pending
                if start + step < len(texts):
                    pending = loop.run_in_executor(
                        pool, _embed_chunk, [t for _, t in texts[start + step : start + 2 * step]]
                    )
                rows = [
                    (
                        TENANT,
                        "product",
                        rid,
                        text,
                        hashlib.blake2b(text.encode(), digest_size=12).hexdigest(),
                        embedder.name,
                        dims,
                        Vector(vec),
                    )
                    for (rid, text), vec in zip(chunk, vectors, strict=True)
                ]
                async with db.transaction() as conn:
                    await register_vector_async(conn)
                    await copy_rows(conn, "shop_documents", DOC_COLUMNS, rows, DOC_TYPES)
        print(f"  {n} documents embedded and copied, {time.perf_counter() - started:.0f} s", flush=True)
        await db.execute(
            "insert into shop_embedding_state (tenant, embedder, dims) values (%s, %s, %s)"
            " on conflict (tenant) do update set embedder = excluded.embedder, dims = excluded.dims",
            (TENANT, embedder.name, dims),
        )
        await ensure_hnsw_index(db, TENANT, "product", dims)
        print(f"  HNSW index built, {time.perf_counter() - started:.0f} s", flush=True)
        await db.execute("vacuum analyze shop_products, shop_prices, shop_documents")
    print(f"loaded {n} products in {time.perf_counter() - started:.0f} s", flush=True)


async def ready(db: Database, n: int) -> bool:
    row = await db.fetch_one(
        "select (select count(*) from shop_products where tenant = %(t)s) as products,"
        " (select count(*) from shop_documents where tenant = %(t)s) as documents,"
        " (select count(*) from pg_indexes where tablename = 'shop_documents' and indexdef like %(i)s) as indexes",
        {"t": TENANT, "i": f"%hnsw%{TENANT}%"},
    )
    return row is not None and row["products"] == n and row["documents"] == n and row["indexes"] > 0


def latency_line(label: str, latencies: list[float]) -> str:
    p50, p95, p99 = pct(latencies, 50), pct(latencies, 95), pct(latencies, 99)
    return f"  {label}: latency p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms"


async def main(args: argparse.Namespace) -> None:
    if args.search_ef:
        search_ranked.EF_SEARCH = args.search_ef
    if args.filtered_ef:
        search_ranked.FILTERED_FETCH = args.filtered_ef
    if args.tier_rows:
        search_ranked.TIER_ROWS = args.tier_rows
    if args.tier_scan:
        search_ranked.TIER_SCAN = args.tier_scan
    if args.pg_defaults:  # before the server starts; a server already running keeps its settings
        pg_server.SERVER_SETTINGS = None
    url = os.environ.get("DATABASE_URL") or start_embedded_postgres(Path(args.data_dir) / "postgres")
    async with Database.connect(url, min_size=1, max_size=4) as db:
        if not await ready(db, args.products):
            await seed(url, args.products)
        if args.seed_only:
            return
        row = await db.fetch_one(
            "select current_setting('shared_buffers') as sb, current_setting('random_page_cost') as rpc,"
            " current_setting('work_mem') as wm, current_setting('jit') as jit, pg_jit_available() as jit_ok,"
            " (select extversion from pg_extension where extname = 'vector') as pgvector"
        )
        if row:
            print(
                f"server: {'Postgres defaults' if args.pg_defaults else 'embedded settings'}: shared_buffers"
                f" {row['sb']}, random_page_cost {row['rpc']}, work_mem {row['wm']}, jit {row['jit']}"
                f" ({'available' if row['jit_ok'] else 'not built in'}); pgvector {row['pgvector']}",
                flush=True,
            )
        if args.against:
            await turn_about(db, args)
            return
        embedder = OfflineEmbedder()
        data = NativeShopData(TENANT)
        qs = queries(args.queries, random.Random(11))
        for q in qs[:5]:  # warm the caches
            await search_products(db, data, embedder, q)

        print(
            f"hybrid search, {args.queries} queries over {args.products} products (top 10, {os.cpu_count()} cores,"
            f" load average {os.getloadavg()[0]:.1f} at the start)"
        )
        for label, filters in (("no filter", {}), ("max_price 100 EUR", {"currency": "eur", "max_price": 100})):
            latencies = []
            for q in qs:
                t0 = time.perf_counter()
                await search_products(db, data, embedder, q, limit=10, **filters)
                latencies.append((time.perf_counter() - t0) * 1000)
            print(latency_line(label, latencies) + f" (load average {os.getloadavg()[0]:.1f})", flush=True)

        for label, filters in (("no filter", {}), ("max_price 100 EUR", {"currency": "eur", "max_price": 100})):
            await search_recall(db, data, embedder, qs[: args.recall_queries], label, filters)

        # Recall of the vector branch: the HNSW top 10 against the exact top 10 (a sequential scan).
        # Hashed embeddings of near-identical names tie often, so a result at a distance no larger
        # than the exact 10th also counts ("tie-aware"); the strict id overlap is shown beside it.
        if not args.ef:
            return
        dims = await data.vector_dims(db, embedder)
        exact = []
        for q in qs[: args.recall_queries]:
            vector = vector_literal(hash_embedding(q))
            exact.append((vector, await vector_top(db, data, dims, vector, 100, exact=True)))
        for ef in args.ef:
            strict, tie_aware, timings = [], [], []
            for vector, truth in exact:
                t0 = time.perf_counter()
                found = await vector_top(db, data, dims, vector, 10, ef_search=ef)
                timings.append((time.perf_counter() - t0) * 1000)
                tenth = truth[min(9, len(truth) - 1)][1]
                strict.append(len({i for i, _ in found} & {i for i, _ in truth[:10]}) / 10)
                tie_aware.append(min(10, sum(1 for _, d in found if d <= tenth + 1e-6)) / 10)
            print(
                f"  hnsw.ef_search={ef}: vector recall@10 {statistics.mean(tie_aware):.3f} (strict id overlap"
                f" {statistics.mean(strict):.3f}); vector query p50 {pct(timings, 50):.1f} ms,"
                f" p95 {pct(timings, 95):.1f} ms"
            )
        print(f"  load average {os.getloadavg()[0]:.1f} at the end")


def _cpu_ms(pid: int) -> float:
    """CPU time (user + system) a local process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


async def turn_about(db: Database, args: argparse.Namespace) -> None:
    """This checkout's search against the search at git revision ``args.against``, query by query
    in alternation over the same data: latency, and the CPU each search costs in Postgres (the
    backend of a connection of its own, from /proc: a local server) and in Python. The search's
    own modules (``SEARCH_MODULES``, those the revision has) are taken from that revision; the
    rest (embedders, query words, the database) are this checkout's. Both run on the same server,
    so its settings are not compared here (``--pg-defaults`` runs the bench on Postgres's own)."""
    import importlib
    import importlib.util
    import subprocess

    folder = Path(tempfile.mkdtemp()) / "search_before"
    folder.mkdir()
    sources = {}
    for name in SEARCH_MODULES:  # those the revision has
        shown = subprocess.run(
            ["git", "show", f"{args.against}:proxy/shop/{name}.py"], capture_output=True, text=True, check=False
        )
        if shown.returncode == 0:
            sources[name] = shown.stdout
    for name, source in sources.items():  # each imports the revision's others
        for other in sources:
            source = re.sub(rf"\bproxy\.shop\.{other}\b", f"search_before.{other}", source)
        (folder / f"{name}.py").write_text(source)
    (folder / "__init__.py").write_text("")
    spec = importlib.util.spec_from_file_location("search_before", folder / "__init__.py")
    assert spec is not None and spec.loader is not None
    sys.modules["search_before"] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
    spec.loader.exec_module(sys.modules["search_before"])
    before = importlib.import_module("search_before.search")
    url = os.environ.get("DATABASE_URL") or start_embedded_postgres(Path(args.data_dir) / "postgres")
    data, embedder = NativeShopData(TENANT), OfflineEmbedder()
    qs = queries(args.queries, random.Random(11))
    async with (
        Database.connect(url, min_size=1, max_size=1) as db_before,
        Database.connect(url, min_size=1, max_size=1) as db_after,
    ):
        sides = {"before": (before.search_products, db_before), "after": (search_products, db_after)}
        pids = {}
        for name, (_, side_db) in sides.items():
            row = await side_db.fetch_one("select pg_backend_pid() as pid")
            pids[name] = row["pid"] if row else 0
        print(
            f"turn about, {args.queries} queries over {args.products} products, top 10: before = search.py at"
            f" {args.against}, after = this checkout (load average {os.getloadavg()[0]:.1f} at the start)"
        )
        for label, filters in (("no filter", {}), ("max_price 100 EUR", {"currency": "eur", "max_price": 100})):
            for fn, side_db in sides.values():
                for q in qs[:10]:
                    await fn(side_db, data, embedder, q, limit=10, **filters)
            latency: dict[str, list[float]] = {name: [] for name in sides}
            backend = dict.fromkeys(sides, 0.0)
            python = dict.fromkeys(sides, 0.0)
            for i, q in enumerate(qs):
                for name in ("before", "after") if i % 2 == 0 else ("after", "before"):
                    fn, side_db = sides[name]
                    b0, p0, t0 = _cpu_ms(pids[name]), time.process_time(), time.perf_counter()
                    await fn(side_db, data, embedder, q, limit=10, **filters)
                    latency[name].append((time.perf_counter() - t0) * 1000)
                    python[name] += (time.process_time() - p0) * 1000
                    backend[name] += _cpu_ms(pids[name]) - b0
            for name in sides:
                print(
                    latency_line(f"{label}, {name}", latency[name])
                    + f"; CPU per search: Postgres {backend[name] / len(qs):.1f} ms,"
                    f" Python {python[name] / len(qs):.1f} ms"
                )
            print(f"  (load average {os.getloadavg()[0]:.1f})", flush=True)


async def search_recall(
    db: Database, data: NativeShopData, embedder: OfflineEmbedder, qs: list[str], label: str, filters: dict[str, Any]
) -> None:
    """The top 10 against the exact search's top 10. Many synthetic products differ only in colour,
    material and model number, so besides the strict id overlap a result also counts when it has
    at least as many of the query's words as the exact result at its place ("match-aware")."""
    strict, aware, timings, outside = [], [], [], 0
    for q in qs:
        t0 = time.perf_counter()
        fast = (await search_products(db, data, embedder, q, limit=10, **filters))["products"]
        timings.append((time.perf_counter() - t0) * 1000)
        exact = (await search_products(db, data, embedder, q, limit=10, exact=True, **filters))["products"]
        outside += sum(1 for p in fast if filters and min(float(x.split()[0]) for x in p["prices"]) > 100)
        if not exact:
            continue
        strict.append(len({p["id"] for p in fast} & {p["id"] for p in exact}) / len(exact))
        ours = sorted((len(p["matched_words"]) for p in fast), reverse=True)
        best = sorted((len(p["matched_words"]) for p in exact), reverse=True)
        aware.append(sum(1 for i, n in enumerate(best) if i < len(ours) and ours[i] >= n) / len(best))
    print(
        f"  search recall@10 against exact search, {label}, {len(qs)} queries: match-aware"
        f" {statistics.mean(aware):.3f}, strict id overlap {statistics.mean(strict):.3f}; latency p50"
        f" {pct(timings, 50):.1f} ms, p95 {pct(timings, 95):.1f} ms; results outside the filter: {outside}"
    )


async def vector_top(
    db: Database, data: NativeShopData, dims: int, vector: str, k: int, *, ef_search: int = 40, exact: bool = False
) -> list[tuple[str, float]]:
    async with db.transaction() as conn:
        await conn.execute("select set_config('hnsw.ef_search', %s, true)", (str(ef_search),))
        if exact:
            await conn.execute("set local enable_indexscan = off")
        cur = await conn.execute(data.ann_query(dims), {"q": vector, "n": k})
        return [(r["id"], float(r["distance"])) for r in await cur.fetchall()]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--recall-queries", type=int, default=50, help="queries also run as exact searches")
    parser.add_argument("--ef", type=int, nargs="*", default=[40, 100, 200, 400], help="none: skip the walk's recall")
    parser.add_argument("--against", metavar="GIT_REV", help="compare with search.py at this revision, turn about")
    parser.add_argument("--seed-only", action="store_true", help="load the catalogue, measure nothing")
    parser.add_argument("--search-ef", type=int, help="the search's hnsw.ef_search without a price filter")
    parser.add_argument(
        "--filtered-ef", type=int, help="the search's walk with a price filter and product words (FILTERED_FETCH)"
    )
    parser.add_argument("--tier-rows", type=int, help="products each word tier keeps at most (TIER_ROWS)")
    parser.add_argument("--tier-scan", type=int, help="products each word tier reads at most (TIER_SCAN)")
    parser.add_argument(
        "--pg-defaults", action="store_true", help="start the embedded server with Postgres's default settings"
    )
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "proxy-search-bench"))
    asyncio.run(main(parser.parse_args()))
