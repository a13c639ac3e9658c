"""Shop fixtures: small demo shops seeded once per run, and a way to call the tools as a visitor."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from proxy.shop.config import ShopConfig
from proxy.shop.demo_data import SMALL, DemoSize, seed_demo
from proxy.shop.tools import register_shop_tools
from proxy.store.db import Database
from proxy.tenants import TenantConfig
from proxy.tools.registry import ToolContext, ToolOutcome, ToolRegistry, ToolSet
from proxy.visitors import Visitor

SMALL_TENANT = "shop-small"
CATALOG_TENANT = "shop-catalog"  # the full 240-product catalog, few orders: for search quality

Call = Callable[..., Awaitable[ToolOutcome]]


@pytest.fixture(scope="session")
async def small_shop(database: Database) -> str:
    await seed_demo(database, SMALL_TENANT, size=SMALL)
    return SMALL_TENANT


@pytest.fixture(scope="session")
async def catalog_shop(database: Database) -> str:
    await seed_demo(database, CATALOG_TENANT, size=DemoSize(products=240, customers=20, invoices=100))
    return CATALOG_TENANT


@pytest.fixture(scope="session")
def shop_tools() -> ToolSet:
    registry = ToolRegistry()
    register_shop_tools(registry)
    return registry.subset(registry.names)


def tool_context(
    tenant: str, db: Database, visitor: Visitor | None = None, shop: ShopConfig | None = None
) -> ToolContext:
    config = TenantConfig(name=tenant, domains=[f"{tenant}.example"], shop=shop or ShopConfig())
    return ToolContext(tenant=tenant, thread_id="thr_test", visitor=visitor or Visitor(), tenant_config=config, db=db)


@pytest.fixture
def call(database: Database, shop_tools: ToolSet) -> Call:
    async def call(
        name: str,
        args: dict[str, Any],
        *,
        tenant: str = SMALL_TENANT,
        visitor: Visitor | None = None,
        shop: ShopConfig | None = None,
    ) -> ToolOutcome:
        return await shop_tools.dispatch(name, json.dumps(args), tool_context(tenant, database, visitor, shop))

    return call


def _ok(outcome: ToolOutcome) -> Any:
    assert outcome.ok, outcome.output
    return json.loads(outcome.output)


@pytest.fixture
def ok() -> Callable[[ToolOutcome], Any]:
    """Assert a tool call succeeded and return its parsed output."""
    return _ok


@pytest.fixture
def staff() -> Visitor:
    return Visitor("user:staff", "staff", "staff", "staff@shop.example")
