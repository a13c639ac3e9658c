"""The demo shop: the full-size seed demo start-up uses, idempotent re-runs, the seeded marker."""

from __future__ import annotations

import pytest

from proxy.shop.demo_data import FULL, SMALL, demo_seeded, seed_demo
from proxy.store.db import Database
from tests.support.demo_shop import DemoShop

pytestmark = pytest.mark.integration

TABLES = ("shop_products", "shop_prices", "shop_customers", "shop_invoices", "shop_invoice_lines", "shop_documents")


async def counts(db: Database, tenant: str) -> dict[str, int]:
    out = {}
    for table in TABLES:
        row = await db.fetch_one(f"select count(*) as n from {table} where tenant = %s", (tenant,))
        out[table] = row["n"]
    return out


async def test_full_demo_shop_seeds_once_and_is_then_skipped(demo_shop_seed: DemoShop, database: Database) -> None:
    """The run's one full seed (``tests/conftest.py``, shared with the demo pages and the grounding
    suite): it found no demo shop, wrote the full size, and marked the tenant seeded."""
    tenant, summary = demo_shop_seed.tenant, demo_shop_seed.summary
    assert summary is not None, "the demo shop was seeded before this run's first seed"
    assert (summary.products, summary.customers, summary.invoices) == (FULL.products, FULL.customers, FULL.invoices)
    assert summary.products >= 200 and summary.lines > summary.invoices  # multi-product orders exist
    assert summary.embedded == summary.products + summary.customers + summary.invoices
    assert await demo_seeded(database, tenant)
    span = await database.fetch_one(
        "select min(created) as first, max(created) as last from shop_invoices where tenant = %s", (tenant,)
    )
    assert 330 <= (span["last"] - span["first"]).days <= 366


async def test_reseeding_changes_nothing(small_shop: str, database: Database) -> None:
    before = await counts(database, small_shop)
    assert before["shop_products"] == SMALL.products and before["shop_invoices"] == SMALL.invoices
    summary = await seed_demo(database, small_shop, size=SMALL)
    assert summary.embedded == 0
    assert await counts(database, small_shop) == before
    assert not await demo_seeded(database, small_shop)  # a small shop is not the demo shop
