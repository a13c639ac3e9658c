"""A deterministic, realistic demo shop: products with EUR and USD prices, customers in Europe and
the US, twelve months of invoices with repeat buyers (heavy-tailed) and items that sell together.

The same generator, with smaller sizes, seeds the tests. Seeding is idempotent (upserts keyed by
Stripe-like ids) and records a marker so ``demo`` can skip it next time.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from proxy.shop import demo_catalog as cat
from proxy.shop.documents import refresh_documents
from proxy.shop.embedders import Embedder, OfflineEmbedder
from proxy.shop.store import analyze, replace_lines, upsert_records

if TYPE_CHECKING:
    from proxy.store.db import Database

DEMO_VERSION = 1
DEMO_SEED = 20251101
PERIOD_START = datetime(2025, 11, 1, tzinfo=UTC)  # twelve months: 2025-11-01 .. 2026-10-31
PERIOD_DAYS = 365


@dataclass(frozen=True, slots=True)
class DemoSize:
    products: int = 240
    customers: int = 2000
    invoices: int = 20000


FULL = DemoSize()
SMALL = DemoSize(products=40, customers=200, invoices=1000)


@dataclass(slots=True)
class DemoShop:
    products: list[tuple[Any, ...]] = field(default_factory=list)
    prices: list[tuple[Any, ...]] = field(default_factory=list)
    customers: list[tuple[Any, ...]] = field(default_factory=list)
    invoices: list[tuple[Any, ...]] = field(default_factory=list)
    lines: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(slots=True)
class SeedSummary:
    tenant: str
    products: int
    prices: int
    customers: int
    invoices: int
    lines: int
    embedded: int
    seconds: float


def _catalog_order() -> list[tuple[str, int, str, int, str]]:
    """(category, item index, item, variant index, description) interleaved across categories,
    so that any prefix of the catalog covers every category."""
    out = []
    for i in range(10):
        for v in range(len(cat.VARIANTS)):
            for category, items in cat.CATEGORIES.items():
                item, _, desc = items[i]
                out.append((category, i, item, v, desc))
    return out


def generate(tenant: str, size: DemoSize = FULL, seed: int = DEMO_SEED) -> DemoShop:
    rng = random.Random(seed)
    shop = DemoShop()
    base_price = {item: price for items in cat.CATEGORIES.values() for item, price, _ in items}
    catalog = _catalog_order()[: size.products]
    by_item: dict[str, list[int]] = {}
    unit: dict[tuple[int, str], int] = {}
    for n, (category, _, item, v, desc) in enumerate(catalog):
        variant, mult, note = cat.VARIANTS[v]
        pid = f"prod_demo{n:04d}"
        name = f"{rng.choice(cat.LINES)} {item}" + ("" if variant == "Classic" else f" {variant}")
        created = PERIOD_START - timedelta(days=400 - n)
        eur = round(base_price[item] * mult) * 100 - 1
        usd = round(base_price[item] * mult * 1.1) * 100 - 1
        unit[(n, "eur")], unit[(n, "usd")] = eur, usd
        shop.products.append(
            (
                tenant,
                pid,
                name,
                f"{desc[0].upper()}{desc[1:]}. {note}",
                n % 50 != 17,
                f"price_demo{n:04d}_eur",
                {"category": category},
                created,
                False,
                None,
            )
        )
        for cur, amount in (("eur", eur), ("usd", usd)):
            shop.prices.append((tenant, f"price_demo{n:04d}_{cur}", pid, cur, amount, None, True, None, created, None))
        by_item.setdefault(item, []).append(n)
    companions = {
        n: [m for other in cat.COMPANIONS.get(item, []) for m in by_item.get(other, [])[:1]]
        for n, (_, _, item, _, _) in enumerate(catalog)
    }
    for n in companions:  # items without curated companions sell with a neighbour in their category
        if not companions[n]:
            same = [m for m, c in enumerate(catalog) if c[0] == catalog[n][0] and m != n]
            companions[n] = [rng.choice(same)] if same else []

    popularity = list(range(len(catalog)))
    rng.shuffle(popularity)
    product_weights = [0.0] * len(catalog)
    for rank, n in enumerate(popularity):
        product_weights[n] = 1.0 / (rank + 3) ** 0.9

    emails: set[str] = set()
    customer_weights = []
    for c in range(size.customers):
        first, last = rng.choice(cat.FIRST_NAMES), rng.choice(cat.LAST_NAMES)
        email, k = f"{first}.{last}@{rng.choice(cat.EMAIL_DOMAINS)}".lower(), 1
        while email in emails:
            k += 1
            email = f"{first}.{last}{k}@{email.split('@')[1]}".lower()
        emails.add(email)
        currency = "usd" if rng.random() < 0.2 else "eur"
        city = rng.choice(cat.CITIES_USD if currency == "usd" else cat.CITIES_EUR)
        created = PERIOD_START - timedelta(days=rng.randrange(0, 365), seconds=rng.randrange(86400))
        shop.customers.append(
            (
                tenant,
                f"cus_demo{c:05d}",
                email,
                f"{first} {last}",
                None,
                created,
                {"city": city, "currency": currency},
                False,
                None,
            )
        )
        # most customers buy once or twice; a heavy tail buys again and again
        customer_weights.append(0.15 if rng.random() < 0.45 else min(rng.paretovariate(1.3), 20.0))

    day_weights = [
        (1.5 if (PERIOD_START + timedelta(days=d)).month in (11, 12) else 1.0)
        * (1.2 if (PERIOD_START + timedelta(days=d)).weekday() >= 5 else 1.0)
        for d in range(PERIOD_DAYS)
    ]
    days = rng.choices(range(PERIOD_DAYS), weights=day_weights, k=size.invoices)
    stamps = sorted(PERIOD_START + timedelta(days=d, seconds=rng.randrange(7 * 3600, 23 * 3600)) for d in days)
    buyers = rng.choices(range(size.customers), weights=customer_weights, k=size.invoices)
    for i, (created, c) in enumerate(zip(stamps, buyers, strict=True)):
        customer = shop.customers[c]
        currency = customer[6]["currency"]
        items = [rng.choices(range(len(catalog)), weights=product_weights)[0]]
        for chance, pick in ((0.5, 0), (0.2, 1)):
            options = companions[items[0]]
            if rng.random() < chance and len(options) > pick and options[pick] not in items:
                items.append(options[pick])
        if rng.random() < 0.15:
            extra = rng.choices(range(len(catalog)), weights=product_weights)[0]
            if extra not in items:
                items.append(extra)
        iid, total = f"in_demo{i:06d}", 0
        for pos, n in enumerate(items):
            price = unit[(n, currency)]
            qty = rng.choice((1, 1, 1, 2, 2, 3)) if price < 2500 else (2 if rng.random() < 0.05 else 1)
            total += price * qty
            shop.lines.append(
                (
                    tenant,
                    iid,
                    f"il_demo{i:06d}_{pos}",
                    pos,
                    f"prod_demo{n:04d}",
                    f"price_demo{n:04d}_{currency}",
                    shop.products[n][2],
                    qty,
                    price * qty,
                    currency,
                )
            )
        roll = rng.random()
        status = "paid" if roll < 0.95 else ("open" if roll < 0.98 else "void")
        shop.invoices.append(
            (
                tenant,
                iid,
                f"DEMO-{i + 1:06d}",
                customer[1],
                customer[2],
                customer[3],
                currency,
                status,
                total,
                created,
                None,
            )
        )
    return shop


async def seed_demo(
    db: Database,
    tenant: str = "demo",
    *,
    embedder: Embedder | None = None,
    size: DemoSize = FULL,
    seed: int = DEMO_SEED,
) -> SeedSummary:
    """Write the demo shop for ``tenant`` and embed it; safe to run again."""
    started = time.perf_counter()
    embedder = embedder or OfflineEmbedder()
    shop = generate(tenant, size, seed)
    async with db.transaction() as conn:
        await upsert_records(conn, "shop_products", shop.products)
        await upsert_records(conn, "shop_prices", shop.prices)
        await upsert_records(conn, "shop_customers", shop.customers)
        await upsert_records(conn, "shop_invoices", shop.invoices)
        await replace_lines(conn, tenant, [row[1] for row in shop.invoices], shop.lines)
    stats = await refresh_documents(db, tenant, embedder)
    await analyze(db)
    info = {"version": DEMO_VERSION, "seed": seed, "size": [size.products, size.customers, size.invoices]}
    await db.execute(
        "insert into shop_sync_state (tenant, source, object, info) values (%s, 'demo', 'seed', %s)"
        " on conflict (tenant, source, object) do update set info = excluded.info, synced_at = now()",
        (tenant, Jsonb(info)),
    )
    return SeedSummary(
        tenant,
        len(shop.products),
        len(shop.prices),
        len(shop.customers),
        len(shop.invoices),
        len(shop.lines),
        stats.embedded,
        round(time.perf_counter() - started, 2),
    )


async def demo_seeded(db: Database, tenant: str = "demo") -> bool:
    """True when this version of the full demo shop is in place and embedded."""
    row = await db.fetch_one(
        "select s.info from shop_sync_state s join shop_embedding_state e on e.tenant = s.tenant"
        " where s.tenant = %s and s.source = 'demo' and s.object = 'seed'",
        (tenant,),
    )
    if row is None:
        return False
    info = row["info"]
    return bool(
        info.get("version") == DEMO_VERSION and info.get("size") == [FULL.products, FULL.customers, FULL.invoices]
    )
