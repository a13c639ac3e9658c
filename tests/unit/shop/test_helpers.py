"""Small pure pieces: rank fusion, output capping, the demo generator."""

from __future__ import annotations

from collections import Counter

from proxy.shop.demo_data import FULL, SMALL, generate
from proxy.shop.search_statement import fuse
from proxy.shop.tools import cap


def test_rank_fusion_rewards_agreement() -> None:
    fused = fuse(["a", "b", "c"], ["c", "a", "d"])
    assert [rid for rid, _ in fused][:2] == ["a", "c"]
    assert {rid for rid, _ in fused} == {"a", "b", "c", "d"}


def test_cap_trims_the_longest_list_and_says_so() -> None:
    result = cap({"query": "x", "products": [{"name": "n" * 100}] * 200}, max_chars=2000)
    assert result["truncated"] is True and 0 < len(result["products"]) < 200
    small = {"products": [1, 2]}
    assert cap(small) == {"products": [1, 2]}


def test_demo_generator_is_deterministic_and_shaped_for_insights() -> None:
    assert generate("t", SMALL) == generate("t", SMALL)
    shop = generate("t", FULL)
    assert (len(shop.products), len(shop.customers), len(shop.invoices)) == (240, 2000, 20000)
    assert len({p[2] for p in shop.products}) == len(shop.products)  # product names are unique
    assert len({c[2] for c in shop.customers}) == len(shop.customers)  # so are emails
    orders = Counter(i[3] for i in shop.invoices)
    assert sum(1 for n in orders.values() if n >= 2) > 500  # repeat buyers
    assert max(orders.values()) < 500
    per_invoice = Counter(line[1] for line in shop.lines)
    assert sum(1 for n in per_invoice.values() if n >= 2) > 5000  # multi-product orders
    months = {i[9].strftime("%Y-%m") for i in shop.invoices}
    assert len(months) == 12
    assert {p[0] for p in shop.prices} == {"t"} and {p[3] for p in shop.prices} == {"eur", "usd"}
