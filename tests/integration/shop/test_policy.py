"""Who may see what: enforced by the tools, whatever arguments the model passes."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.shop.config import ShopConfig, ShopPolicy
from proxy.store.db import Database
from proxy.visitors import Visitor

pytestmark = pytest.mark.integration


async def two_customers(db: Database, tenant: str) -> tuple[dict[str, Any], dict[str, Any]]:
    rows = await db.fetch_all(
        "select c.id, c.name, c.email, count(i.id) as orders from shop_customers c"
        " join shop_invoices i on i.tenant = c.tenant and i.customer_id = c.id"
        " where c.tenant = %s group by c.id, c.name, c.email having count(i.id) >= 2 order by c.id limit 2",
        (tenant,),
    )
    return rows[0], rows[1]


def identified(customer: dict[str, Any]) -> Visitor:
    return Visitor(f"user:{customer['id']}", "identified", f"u-{customer['id']}", customer["email"].upper())


async def test_anonymous_visitors_see_the_catalog_only(small_shop: str, database: Database, call, ok) -> None:
    me, _ = await two_customers(database, small_shop)
    assert ok(await call("search_products", {"query": "coffee grinder"}))["products"]
    for name, args in [
        ("find_customer", {"email": me["email"]}),
        ("find_customer", {}),
        ("customer_orders", {"customer_id": me["id"]}),
        ("shop_insights", {"question": "revenue"}),
    ]:
        outcome = await call(name, args)
        assert not outcome.ok
        assert "Not allowed" in outcome.output and "not signed in" in outcome.output
        assert me["email"] not in outcome.output


async def test_identified_visitors_see_only_their_own_record_and_orders(
    small_shop: str, database: Database, call, ok
) -> None:
    me, other = await two_customers(database, small_shop)
    visitor = identified(me)
    assert [c["id"] for c in ok(await call("find_customer", {}, visitor=visitor))["customers"]] == [me["id"]]
    assert [c["id"] for c in ok(await call("find_customer", {"email": me["email"]}, visitor=visitor))["customers"]] == [
        me["id"]
    ]
    mine = ok(await call("customer_orders", {"limit": 50}, visitor=visitor))
    assert mine["customer_ids"] == [me["id"]] and mine["orders_total"] == me["orders"]
    for name, args in [
        ("find_customer", {"email": other["email"]}),
        ("find_customer", {"name": other["name"]}),
        ("find_customer", {"customer_id": other["id"]}),
        ("customer_orders", {"customer_id": other["id"]}),
        ("customer_orders", {"email": other["email"]}),
        ("customer_orders", {"customer_id": other["id"], "email": me["email"]}),
        ("shop_insights", {"question": "top_customers"}),
    ]:
        outcome = await call(name, args, visitor=visitor)
        assert not outcome.ok, (name, args)
        assert "Not allowed" in outcome.output
        assert other["email"] not in outcome.output and other["id"] not in outcome.output.replace(str(args), "")


async def test_identified_visitor_without_a_customer_record(small_shop: str, call) -> None:
    stranger = Visitor("user:zz", "identified", "zz", "nobody@elsewhere.example")
    outcome = await call("customer_orders", {}, visitor=stranger)
    assert not outcome.ok and "No customer record is linked" in outcome.output


async def test_staff_see_everything(small_shop: str, database: Database, call, ok, staff) -> None:
    _, other = await two_customers(database, small_shop)
    found = ok(await call("find_customer", {"email": other["email"]}, visitor=staff))
    assert other["id"] in {c["id"] for c in found["customers"]}
    orders = ok(await call("customer_orders", {"customer_id": other["id"]}, visitor=staff))
    assert orders["orders_total"] == other["orders"]
    assert (
        ok(await call("shop_insights", {"question": "repeat_purchase_rate"}, visitor=staff))["customers_with_orders"]
        > 0
    )
    refused = await call("customer_orders", {}, visitor=staff)
    assert not refused.ok and "customer id" in refused.output


async def test_each_tenant_sets_its_own_policy(small_shop: str, database: Database, call) -> None:
    me, _ = await two_customers(database, small_shop)
    closed = ShopConfig(policy=ShopPolicy(anonymous="none", identified="catalog", staff="own"))
    assert not (await call("search_products", {"query": "mug"}, shop=closed)).ok
    assert (await call("search_products", {"query": "mug"}, shop=closed, visitor=identified(me))).ok
    outcome = await call("customer_orders", {}, shop=closed, visitor=identified(me))
    assert not outcome.ok and "Not allowed" in outcome.output
    staff_as_own = Visitor("user:s", "staff", "s", me["email"])
    assert not (await call("shop_insights", {"question": "revenue"}, shop=closed, visitor=staff_as_own)).ok
