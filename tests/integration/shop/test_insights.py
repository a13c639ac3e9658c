"""Every insight against an independent computation written here, straight on the tables."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from proxy.store.db import Database

pytestmark = pytest.mark.integration


def money(minor: int, currency: str) -> str:
    return f"{minor / 100:.2f} {currency.upper()}"


async def paid_orders(
    db: Database, tenant: str, start: str | None = None, end: str | None = None
) -> list[dict[str, Any]]:
    return await db.fetch_all(
        "select id, customer_id, currency, total, created from shop_invoices where tenant = %s and status = 'paid'"
        " and (%s::date is null or created >= %s::date) and (%s::date is null or created < %s::date + 1)"
        " order by created, id",
        (tenant, start, start, end, end),
    )


async def paid_lines(
    db: Database, tenant: str, start: str | None = None, end: str | None = None
) -> list[dict[str, Any]]:
    return await db.fetch_all(
        "select l.invoice_id, l.product_id, l.quantity, l.amount, l.currency, l.position, i.customer_id, i.created"
        " from shop_invoice_lines l join shop_invoices i on i.tenant = l.tenant and i.id = l.invoice_id"
        " where l.tenant = %s and i.status = 'paid' and l.product_id is not null"
        " and (%s::date is null or i.created >= %s::date) and (%s::date is null or i.created < %s::date + 1)",
        (tenant, start, start, end, end),
    )


@pytest.mark.parametrize("by", ["units", "revenue"])
async def test_best_sellers(by: str, small_shop: str, database: Database, call, ok, staff) -> None:
    start, end = "2026-01-01", "2026-06-30"
    got = ok(
        await call(
            "shop_insights",
            {"question": "best_sellers", "by": by, "date_from": start, "date_to": end, "limit": 5},
            visitor=staff,
        )
    )
    totals: Counter[str] = Counter()
    for line in await paid_lines(database, small_shop, start, end):
        if by == "units":
            totals[line["product_id"]] += line["quantity"]
        elif line["currency"] == "eur":
            totals[line["product_id"]] += line["amount"]
    expected = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert [p["id"] for p in got["products"]] == [pid for pid, _ in expected]
    if by == "units":
        assert [p["units"] for p in got["products"]] == [v for _, v in expected]
    else:
        assert got["currency"] == "eur"
        assert [p["revenue"] for p in got["products"]] == [money(v, "eur") for _, v in expected]


async def test_bought_together_pairs_and_companions(small_shop: str, database: Database, call, ok, staff) -> None:
    products_by_order: dict[str, set[str]] = defaultdict(set)
    for line in await paid_lines(database, small_shop):
        products_by_order[line["invoice_id"]].add(line["product_id"])
    pairs: Counter[tuple[str, str]] = Counter()
    for products in products_by_order.values():
        ordered = sorted(products)
        pairs.update((a, b) for i, a in enumerate(ordered) for b in ordered[i + 1 :])
    expected = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    got = ok(await call("shop_insights", {"question": "bought_together", "limit": 3}, visitor=staff))
    assert [([p["id"] for p in g["products"]], g["orders"]) for g in got["pairs_bought_in_the_same_order"]] == [
        (list(pair), n) for pair, n in expected
    ]
    anchor = expected[0][0][0]
    companions: Counter[str] = Counter()
    for products in products_by_order.values():
        if anchor in products:
            companions.update(products - {anchor})
    got = ok(
        await call("shop_insights", {"question": "bought_together", "product_id": anchor, "limit": 3}, visitor=staff)
    )
    assert got["orders_with_product"] == sum(1 for p in products_by_order.values() if anchor in p)
    assert [(c["id"], c["orders"]) for c in got["most_often_in_the_same_order"]] == sorted(
        companions.items(), key=lambda kv: (-kv[1], kv[0])
    )[:3]


async def test_second_product_in_multi_product_orders(small_shop: str, database: Database, call, ok, staff) -> None:
    first_position: dict[str, dict[str, int]] = defaultdict(dict)
    for line in await paid_lines(database, small_shop):
        seen = first_position[line["invoice_id"]]
        seen[line["product_id"]] = min(seen.get(line["product_id"], line["position"]), line["position"])
    seconds: Counter[str] = Counter()
    for positions in first_position.values():
        if len(positions) >= 2:
            seconds[sorted(positions, key=lambda pid: (positions[pid], pid))[1]] += 1
    got = ok(await call("shop_insights", {"question": "second_product", "basis": "order", "limit": 3}, visitor=staff))
    assert got["groups_counted"] == sum(seconds.values())
    assert [(p["id"], p["count"]) for p in got["second_products"]] == sorted(
        seconds.items(), key=lambda kv: (-kv[1], kv[0])
    )[:3]


async def test_second_product_per_customer(small_shop: str, database: Database, call, ok, staff) -> None:
    lines = sorted(
        await paid_lines(database, small_shop),
        key=lambda li: (li["customer_id"], li["created"], li["invoice_id"], li["position"], li["product_id"]),
    )
    sequence: dict[str, list[str]] = defaultdict(list)
    for li in lines:
        if li["product_id"] not in sequence[li["customer_id"]]:
            sequence[li["customer_id"]].append(li["product_id"])
    seconds = Counter(seq[1] for seq in sequence.values() if len(seq) >= 2)
    got = ok(
        await call("shop_insights", {"question": "second_product", "basis": "customer", "limit": 3}, visitor=staff)
    )
    assert got["groups_counted"] == sum(seconds.values())
    assert [(p["id"], p["count"]) for p in got["second_products"]] == sorted(
        seconds.items(), key=lambda kv: (-kv[1], kv[0])
    )[:3]


@pytest.mark.parametrize("which", ["cheapest", "largest"])
async def test_extreme_purchase(which: str, small_shop: str, database: Database, call, ok, staff) -> None:
    orders = [
        o
        for o in await paid_orders(database, small_shop)
        if o["currency"] == "eur" and (which == "largest" or o["total"] > 0)
    ]
    sign = 1 if which == "cheapest" else -1
    best = min(orders, key=lambda o: (sign * o["total"], o["created"], o["id"]))
    customer = await database.fetch_one(
        "select name, email from shop_customers where tenant = %s and id = %s", (small_shop, best["customer_id"])
    )
    items = await database.fetch_all(
        "select product_id, quantity from shop_invoice_lines where tenant = %s and invoice_id = %s order by position",
        (small_shop, best["id"]),
    )
    got = ok(await call("shop_insights", {"question": f"{which}_purchase", "currency": "EUR"}, visitor=staff))
    [order] = got["orders"]
    assert order["invoice_id"] == best["id"]
    assert order["total"] == money(best["total"], "eur")
    assert order["customer"] == {"id": best["customer_id"], "name": customer["name"], "email": customer["email"]}
    assert [(i["product_id"], i["quantity"]) for i in order["items"]] == [
        (i["product_id"], i["quantity"]) for i in items
    ]
    assert order["orders_with_the_same_total"] == sum(1 for o in orders if o["total"] == best["total"])


async def test_revenue_and_average_order_value(small_shop: str, database: Database, call, ok, staff) -> None:
    start, end = "2026-02-01", "2026-04-30"
    orders = [o for o in await paid_orders(database, small_shop, start, end) if o["currency"] == "usd"]
    got = ok(
        await call(
            "shop_insights",
            {"question": "revenue", "currency": "usd", "date_from": start, "date_to": end, "by_month": True},
            visitor=staff,
        )
    )
    revenue = sum(o["total"] for o in orders)
    assert (got["orders"], got["revenue"]) == (len(orders), money(revenue, "usd"))
    aov = (Decimal(revenue) / len(orders)).quantize(Decimal(1), rounding=ROUND_HALF_UP)  # as SQL rounds
    assert got["average_order_value"] == money(int(aov), "usd")
    months: Counter[str] = Counter()
    for o in orders:
        months[f"{o['created']:%Y-%m}"] += o["total"]
    assert [(m["month"], m["revenue"]) for m in got["by_month"]] == [
        (m, money(v, "usd")) for m, v in sorted(months.items())
    ]


async def test_default_currency_is_the_one_with_most_orders(
    small_shop: str, database: Database, call, ok, staff
) -> None:
    counts = Counter(o["currency"] for o in await paid_orders(database, small_shop))
    got = ok(await call("shop_insights", {"question": "revenue"}, visitor=staff))
    assert got["currency"] == counts.most_common(1)[0][0]
    assert sorted(got["currencies_with_orders"]) == sorted(counts)


async def test_repeat_purchase_rate(small_shop: str, database: Database, call, ok, staff) -> None:
    start, end = "2025-11-01", "2026-03-31"
    per_customer = Counter(o["customer_id"] for o in await paid_orders(database, small_shop, start, end))
    repeat = sum(1 for n in per_customer.values() if n >= 2)
    got = ok(
        await call(
            "shop_insights", {"question": "repeat_purchase_rate", "date_from": start, "date_to": end}, visitor=staff
        )
    )
    assert got["customers_with_orders"] == len(per_customer)
    assert got["customers_with_two_or_more_orders"] == repeat
    assert got["repeat_purchase_rate_percent"] == round(100 * repeat / len(per_customer), 1)
    assert 0 < repeat < len(per_customer)  # the demo shop has both one-time and repeat buyers


async def test_top_customers(small_shop: str, database: Database, call, ok, staff) -> None:
    spent: Counter[str] = Counter()
    for o in await paid_orders(database, small_shop):
        if o["currency"] == "eur":
            spent[o["customer_id"]] += o["total"]
    got = ok(await call("shop_insights", {"question": "top_customers", "currency": "eur", "limit": 3}, visitor=staff))
    assert [(c["id"], c["spent"]) for c in got["customers"]] == [
        (cid, money(v, "eur")) for cid, v in sorted(spent.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    ]


async def test_bad_questions_are_explained(small_shop: str, call, staff) -> None:
    outcome = await call("shop_insights", {"question": "best_sellers", "date_from": "March"}, visitor=staff)
    assert not outcome.ok and "2026-03-31" in outcome.output
    outcome = await call("shop_insights", {"question": "weather"}, visitor=staff)
    assert not outcome.ok and "best_sellers" in outcome.output
