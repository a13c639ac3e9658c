"""The full demo shop in the test database, seeded once per run for every test that needs it."""

from __future__ import annotations

from dataclasses import dataclass

from proxy.shop.demo_data import SeedSummary, demo_seeded, seed_demo
from proxy.store.db import Database

TENANT = "demo"


@dataclass(frozen=True)
class DemoShop:
    """The demo shop of tenant ``demo``, as ``python -m proxy demo`` loads it: ``summary`` is what
    seeding it reported, None if the database held it before the run."""

    tenant: str
    summary: SeedSummary | None


async def ensure_demo_shop(database: Database) -> DemoShop:
    summary = None if await demo_seeded(database, TENANT) else await seed_demo(database, TENANT)
    return DemoShop(TENANT, summary)
