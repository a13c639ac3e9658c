"""Customers by spend from the low end: "who spent the least?" and "bottom customers" are asked of
all customers with orders (the insight's rank "least"); "who of them spent the least?" of the list
just shown. Outputs are seeded here as shop_insights returns them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.unit.offline.test_list_follow_ups import FRAME, TOP_OUTPUT, Chat
from tests.unit.offline.test_understanding import one_call

LEAST = {"question": "top_customers", "rank": "least"}


def _row(n: int, name: str, orders: int, spent: str, same: int = 1) -> dict[str, Any]:
    email = f"{name.split()[0].lower()}@example.com"
    return {"id": f"cus_{n}", "name": name, "email": email, "orders": orders, "spent": spent,
            "customers_with_the_same_spend": same}  # fmt: skip


BOTTOM = [_row(1, "Ada Low", 1, "4.99 EUR"), _row(2, "Bo Small", 1, "7.50 EUR"), _row(3, "Cy Few", 2, "9.98 EUR"),
          _row(4, "Di Thin", 1, "12.00 EUR"), _row(5, "Ed Lean", 1, "12.99 EUR"),
          _row(6, "Flo Less", 3, "14.97 EUR")]  # fmt: skip
BOTTOM_OUTPUT = FRAME | {"rank": "least spent first", "customers_ranked": 1994, "customers": BOTTOM}


@pytest.mark.parametrize(
    ("text", "extra"),
    [
        ("who spent the least?", {}),
        ("Which customer spent the least overall?", {}),
        ("bottom customers", {}),
        ("show me the bottom 3 customers", {"limit": 3}),
        ("our lowest spenders", {}),
        ("customers who spent the least in March", {"date_from": "2026-03-01", "date_to": "2026-03-31"}),
        ("who spent the least in dollars?", {"currency": "USD"}),
    ],
)
def test_the_least_spenders_are_asked_of_all_customers(text: str, extra: dict[str, Any]) -> None:
    assert one_call(text) == ("shop_insights", LEAST | extra)


def test_who_spent_the_least_names_the_least_of_all_customers() -> None:
    _, least = Chat().ask("who spent the least?", BOTTOM_OUTPUT)
    low = BOTTOM[0]
    assert least.startswith(
        f"{low['name']} ({low['email']}, {low['id']}) spent the least (of all 1994 customers with paid orders in EUR):"
        f" {low['spent']} in 1 order."
    )
    assert "Next from the bottom:\n1. Bo Small" in least and "can't" not in least


def test_the_next_from_the_bottom_say_how_many_more_spent_the_same() -> None:
    next_tied = [
        BOTTOM[0],
        *(_row(n, name, 1, "7.50 EUR", 5) for n, name in ((2, "Bo Small"), (3, "Cy Few"), (4, "Di Thin"))),
    ]
    _, least = Chat().ask("who spent the least?", BOTTOM_OUTPUT | {"customers": next_tied})
    last = "3. Di Thin (di@example.com, cus_4): 7.50 EUR in 1 order"
    assert f"{last}\n\n2 more customers also spent 7.50 EUR." in least

    _, untied = Chat().ask("who spent the least?", BOTTOM_OUTPUT)
    assert "also spent" not in untied


def test_customers_who_spent_the_same_least_are_named_together() -> None:
    tied = [_row(1, "Ada Low", 1, "4.99 EUR", 4), _row(2, "Bo Small", 1, "4.99 EUR", 4), *BOTTOM[2:]]
    _, least = Chat().ask("who spent the least?", BOTTOM_OUTPUT | {"customers": tied})
    assert least.startswith("4 customers tie for the least spent (of all 1994 customers with paid orders in EUR),")
    assert "4.99 EUR each: Ada Low (ada@example.com, cus_1), Bo Small (bo@example.com, cus_2) and 2 more." in least


def test_the_bottom_customers_are_listed_from_the_least_up() -> None:
    tail = [*BOTTOM[:4], _row(5, "Ed Lean", 1, "12.99 EUR", 3)]
    _, listed = Chat().ask("bottom 5 customers", BOTTOM_OUTPUT | {"customers": tail})
    assert listed.startswith(
        "The customers who spent the least (of the 1994 customers with paid orders in EUR), from the least up:\n"
        "1. Ada Low (ada@example.com, cus_1): 4.99 EUR in 1 order"
    )
    last = "5. Ed Lean (ed@example.com, cus_5): 12.99 EUR in 1 order"
    assert f"{last}\n\n2 more customers also spent 12.99 EUR." in listed


def test_a_pick_after_the_bottom_customers_is_of_those_shown_and_the_top_comes_back() -> None:
    chat = Chat()
    chat.ask("bottom customers", BOTTOM_OUTPUT)
    calls, most = chat.ask("who of them spent the most?", BOTTOM_OUTPUT)
    assert calls == [("shop_insights", LEAST)]
    high = max(BOTTOM[:5], key=lambda c: Decimal(c["spent"].split()[0]))
    assert most.startswith(f"Of the 5 customers who spent the least, {high['name']} ({high['email']}, {high['id']})")
    calls, _ = chat.ask("and in dollars?", BOTTOM_OUTPUT)
    assert calls == [("shop_insights", LEAST | {"currency": "USD"})]
    calls, top = chat.ask("who are our top customers?", TOP_OUTPUT)
    assert calls == [("shop_insights", {"question": "top_customers"})]  # a new question: from the top again
    assert top.startswith("Our top customers by spend:")


def test_who_spent_the_least_after_the_top_customers_is_of_all_customers() -> None:
    chat = Chat()
    chat.ask("Who are our top customers?", TOP_OUTPUT)
    calls, least = chat.ask("who spent the least?", BOTTOM_OUTPUT)
    assert calls == [("shop_insights", LEAST)]
    assert least.startswith(f"{BOTTOM[0]['name']} ({BOTTOM[0]['email']}, {BOTTOM[0]['id']}) spent the least (of all")
    calls, _ = chat.ask("and who of those spent the least?", TOP_OUTPUT)
    assert calls == [("shop_insights", LEAST)]  # "those": the lowest spenders just shown
