"""Customers by spend from either end: the ranking the top customers use, read from the least
spent up, checked against sums written here straight on the tables."""

from __future__ import annotations

from collections import Counter

import pytest

from proxy.shop.tools import TOOLS
from proxy.store.db import Database
from tests.integration.shop.test_insights import money, paid_orders

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("currency", ["eur", "usd"])
async def test_the_least_spenders_of_all_customers_with_orders(
    currency: str, small_shop: str, database: Database, call, ok, staff
) -> None:
    spent: Counter[str] = Counter()
    orders: Counter[str] = Counter()
    for o in await paid_orders(database, small_shop):
        if o["currency"] == currency and o["customer_id"] is not None:
            spent[o["customer_id"]] += o["total"]
            orders[o["customer_id"]] += 1
    args = {"question": "top_customers", "currency": currency, "rank": "least", "limit": 4}
    got = ok(await call("shop_insights", args, visitor=staff))
    expected = sorted(spent.items(), key=lambda kv: (kv[1], kv[0]))[:4]
    assert [(c["id"], c["spent"], c["orders"]) for c in got["customers"]] == [
        (cid, money(v, currency), orders[cid]) for cid, v in expected
    ]
    amounts = Counter(spent.values())
    assert [c["customers_with_the_same_spend"] for c in got["customers"]] == [amounts[v] for _, v in expected]
    assert got["customers_ranked"] == len(spent) and got["rank"] == "least spent first"
    assert got["currency"] == currency

    most = ok(await call("shop_insights", args | {"rank": "most"}, visitor=staff))
    assert [c["id"] for c in most["customers"]] == [
        cid for cid, _ in sorted(spent.items(), key=lambda kv: (-kv[1], kv[0]))[:4]
    ]
    assert most["rank"] == "most spent first"


async def test_a_bad_rank_is_explained(small_shop: str, call, staff) -> None:
    outcome = await call("shop_insights", {"question": "top_customers", "rank": "bottom"}, visitor=staff)
    assert not outcome.ok and "rank must be 'most' or 'least'" in outcome.output
    outcome = await call("shop_insights", {"question": "top_customers", "rank": 1}, visitor=staff)
    assert not outcome.ok and "rank must be a string" in outcome.output


def test_the_schema_offers_the_rank() -> None:
    [insights] = [t for t in TOOLS if t.name == "shop_insights"]
    rank = insights.parameters["properties"]["rank"]
    assert rank["enum"] == ["most", "least"] and "least" in rank["description"]
