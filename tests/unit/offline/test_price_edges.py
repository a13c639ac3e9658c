"""The dearest (or cheapest) product of any kind within a price bound ("the most expensive?" after
"show me something under 20"): searches narrowed from the end found so far until all they list
cost that price. A small catalogue stands in for search_products here, filtering as it does."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from proxy.offline import Message, price_edges, respond
from tests.unit.offline.test_rendering import card
from tests.unit.offline.test_understanding import NOW, TOOLS

CATALOGUE = [
    card("prod_mug", "Mug", "14.99 USD"), card("prod_soap", "Soap", "17.99 USD"),
    card("prod_spatula", "Spatula Set", "19.99 USD"), card("prod_notebook", "Notebook", "19.99 USD"),
    card("prod_plug", "Smart Plug", "20.99 USD"), card("prod_brush", "Toothbrush", "12.99 USD"),
    card("prod_lamp", "Lamp", "45.00 USD"), card("prod_desk", "Desk", "875.99 USD"),
    card("prod_pen", "Pen", "18.50 EUR"), card("prod_ink", "Ink", "9.50 EUR"),
]  # fmt: skip


def _price(c: dict[str, Any], currency: str = "USD") -> Decimal | None:
    found = [Decimal(p.split()[0]) for p in c["prices"] if p.endswith(currency)]
    return found[0] if found else None


def search(args: dict[str, Any], page: int = 2) -> dict[str, Any]:
    """Products within the filters, in catalogue order (no price order), at most ``page`` of them."""
    low, high, currency = args.get("min_price"), args.get("max_price"), args.get("currency", "USD")
    priced = [(c, p) for c in CATALOGUE if (p := _price(c, currency)) is not None]
    inside = [
        c for c, p in priced if (low is None or p >= Decimal(str(low))) and (high is None or p <= Decimal(str(high)))
    ]  # fmt: skip
    if high == 0 or (low is not None and low >= 1_000_000_000):  # the shop-wide device: the nearest, as alternatives
        near = [c for c, _ in sorted(priced, key=lambda cp: cp[1], reverse=low is not None)]
        return {"query": "products", "filters": args, "products": [], "nothing_matches": True, "alternatives": near}
    return {"query": args.get("query"), "filters": {k: v for k, v in args.items() if k in ("currency", "min_price",
            "max_price")}, "products": [c | {"match": "strong"} for c in inside[:page]]}  # fmt: skip


def ask(messages: list[Message], text: str) -> tuple[list[dict[str, Any]], str]:
    messages.append(Message("user", text))
    made: list[dict[str, Any]] = []
    answer = respond(messages, TOOLS, now=NOW)
    while answer.tool_calls:
        for name, raw in answer.tool_calls:
            assert name == "search_products"
            made.append(json.loads(raw))
            messages.append(Message("assistant", raw, name=name))
            messages.append(Message("tool", json.dumps(search(json.loads(raw))), name=name))
        answer = respond(messages, TOOLS, now=NOW)
    messages.append(Message("assistant", answer.text))
    return made, answer.text


def test_the_most_expensive_after_something_under_a_price_is_the_dearest_within_it() -> None:
    chat: list[Message] = []
    ask(chat, "show me something under 20 dollars")
    made, dearest = ask(chat, "the most expensive?")
    assert made[0] == {"query": "products", "currency": "USD", "max_price": 20, "limit": 50}
    assert all(m["max_price"] == 20 for m in made[:-1]) and made[-2]["min_price"] == 19.991  # beyond: nothing
    assert made[-1] == made[0] | {"min_price": 19.99, "max_price": 19.99}  # the products at that price
    assert dearest == (
        "The most expensive product at or under 20 USD is Spatula Set (prod_spatula) at 19.99 USD."
        " Notebook (prod_notebook) costs the same."
    )


def test_without_a_currency_the_prices_shown_say_which() -> None:
    chat: list[Message] = []
    ask(chat, "show me something under 20")
    made, dearest = ask(chat, "and the priciest one?")
    assert made[0]["currency"] == "USD" and dearest.startswith("The most expensive product at or under 20 USD is")


def test_the_whole_shop_when_the_message_says_so() -> None:
    chat: list[Message] = []
    ask(chat, "show me something under 20 dollars")
    made, dearest = ask(chat, "what's the most expensive thing in the shop?")
    assert made == [{"query": "products", "currency": "USD", "min_price": 1_000_000_000}]
    assert dearest.startswith("The most expensive product in our shop priced in USD is Desk (prod_desk)")


def test_the_cheapest_over_a_price_is_found_the_same_way() -> None:
    chat: list[Message] = []
    ask(chat, "anything over 19 dollars?")
    made, cheapest = ask(chat, "which is the cheapest?")
    assert made[0] == {"query": "products", "currency": "USD", "min_price": 19, "limit": 50}
    assert made[-2]["max_price"] == 19.989 and made[-1] == made[0] | {"min_price": 19.99, "max_price": 19.99}
    assert cheapest.startswith("The cheapest product from 19 USD up is Spatula Set (prod_spatula) at 19.99 USD.")


def test_a_follow_up_after_the_dearest_changes_what_the_visitor_asked_not_the_narrowed_search() -> None:
    chat: list[Message] = []
    ask(chat, "show me something under 20 dollars")
    ask(chat, "the most expensive?")
    made, dearest = ask(chat, "and under 50?")
    assert made[0] == {"query": "products", "currency": "USD", "max_price": 50, "limit": 50}
    assert dearest == "The most expensive product at or under 50 USD is Lamp (prod_lamp) at 45.00 USD."


def test_another_currency_after_the_dearest_is_the_dearest_in_it() -> None:
    chat: list[Message] = []
    ask(chat, "show me something under 20 dollars")
    ask(chat, "the most expensive?")
    made, dearest = ask(chat, "and in euros?")
    assert made[0] == {"query": "products", "currency": "EUR", "max_price": 20, "limit": 50}
    assert dearest == "The most expensive product at or under 20 EUR is Pen (prod_pen) at 18.50 EUR."


def test_when_the_steps_run_out_the_answer_says_it_could_not_make_sure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(price_edges, "MAX_STEPS", 2)
    chat: list[Message] = []
    ask(chat, "show me something under 50 dollars")
    made, dearest = ask(chat, "the most expensive?")
    assert len(made) == 2
    assert dearest.startswith("The most expensive product at or under 50 USD I found is")
    assert dearest.endswith("There may be others at a higher price in that range: name a kind of product to compare"
                            " within it.")  # fmt: skip
