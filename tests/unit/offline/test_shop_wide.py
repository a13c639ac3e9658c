""" "The cheapest one?" with no kind of product named, in the message or before it: the ends of the
whole shop's price range, read through search_products as the alternatives of a bound no price
passes, and written as the shop's cheapest (or dearest) products."""

from __future__ import annotations

import json
from typing import Any

import pytest

from proxy.offline import Message, respond
from tests.unit.offline.test_rendering import card
from tests.unit.offline.test_understanding import NOW, TOOLS

CHEAPEST = {"query": "products", "max_price": 0}
DEAREST = {"query": "products", "min_price": 1_000_000_000}


def conversation(*texts: str) -> list[Message]:
    """The visitor's messages with the model's own replies between them (a transcript of text, as
    Chat Completions keep it), up to the last message, which is left unanswered."""
    messages: list[Message] = []
    for text in texts[:-1]:
        messages.append(Message("user", text))
        answer = respond(messages, TOOLS, now=NOW)
        assert answer.tool_calls == (), text  # the earlier questions here are answered in words
        messages.append(Message("assistant", answer.text))
    return [*messages, Message("user", texts[-1])]


def planned(messages: list[Message]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, json.loads(args)) for name, args in respond(messages, TOOLS, now=NOW).tool_calls]


@pytest.mark.parametrize(
    ("texts", "args"),
    [
        (("do you ship to Canada?", "and the cheapest one?"), CHEAPEST),
        (("what's your return policy?", "thanks", "and the cheapest one?"), CHEAPEST),
        (("hello", "which one is the cheapest?"), CHEAPEST),
        (("and the cheapest one?",), CHEAPEST),
        (("what's the cheapest thing you have?",), CHEAPEST),
        (("what is your least expensive product",), CHEAPEST),
        (("do you ship to Canada?", "and the most expensive one?"), DEAREST),
        (("what's your priciest item?",), DEAREST),
        (("do you ship to Canada?", "and the cheapest one in USD?"), CHEAPEST | {"currency": "USD"}),
        (("the three cheapest products",), CHEAPEST | {"limit": 3}),
    ],
)
def test_a_pick_without_a_kind_of_product_asks_for_the_whole_shop(texts: tuple[str, ...], args: dict[str, Any]) -> None:
    assert planned(conversation(*texts)) == [("search_products", args)]


def test_a_kind_of_product_is_a_search_like_any_other() -> None:
    assert planned(conversation("what's the cheapest tent?")) == [("search_products", {"query": "tent", "limit": 10})]


def test_the_cheapest_under_a_price_is_the_shops_cheapest_in_that_currency() -> None:
    # the whole shop's cheapest is under any bound some product is under: no range to narrow
    planned_calls = planned(conversation("do you ship to Canada?", "the cheapest one under 50 euros?"))
    assert planned_calls == [("search_products", CHEAPEST | {"currency": "EUR"})]


def _searched(user: str, args: dict[str, Any], output: dict[str, Any]) -> list[Message]:
    return [
        Message("user", user),
        Message("assistant", json.dumps(args), name="search_products"),
        Message("tool", json.dumps(output), name="search_products"),
        Message("assistant", "(answer)"),
    ]


def test_a_follow_up_of_a_search_that_named_no_kind_of_product_asks_for_the_whole_shop() -> None:
    some = {"query": "products", "filters": {}, "products": [card("prod_k", "Kite", "28.99 EUR")]}
    everything = _searched("what do you have?", {"query": "products"}, some)
    assert planned([*everything, Message("user", "and the cheapest one?")]) == [("search_products", CHEAPEST)]
    in_usd = _searched("what do you have in USD?", {"query": "products", "currency": "USD"}, some)
    assert planned([*in_usd, Message("user", "and the cheapest one?")]) == [
        ("search_products", CHEAPEST | {"currency": "USD"})
    ]
    under = _searched("what do you have under 50 euros?", {"query": "products", "max_price": 50}, some)
    # the cheapest under 50: the shop's cheapest, in the currency of the prices shown
    assert planned([*under, Message("user", "and the cheapest one?")]) == [
        ("search_products", CHEAPEST | {"currency": "EUR"})
    ]


SHAMPOO = card("prod_a", "Solid Shampoo Bar", "10.99 EUR", "11.99 USD")
DICE = card("prod_b", "Dice Set", "11.99 EUR", "12.99 USD")
TOOTHBRUSH = card("prod_c", "Bamboo Toothbrush Set", "11.99 EUR", "12.99 USD")


def answered(messages: list[Message], args: dict[str, Any], output: dict[str, Any]) -> str:
    steps = [
        Message("assistant", json.dumps(args), name="search_products"),
        Message("tool", json.dumps(output), name="search_products"),
    ]
    answer = respond([*messages, *steps], TOOLS, now=NOW)
    assert answer.tool_calls == ()
    return answer.text


def beyond(
    bound: str, *cards: dict[str, Any], products: tuple[dict[str, Any], ...] = (), currency: str | None = None
) -> dict[str, Any]:
    """search_products' output for a bound no product (but ``products``) passes."""
    return {
        "query": "products",
        "filters": {bound: 0 if bound == "max_price" else 1_000_000_000} | ({"currency": currency} if currency else {}),
        "products": [p | {"match": "strong", "matched_words": []} for p in products],
        "nothing_matches": not products,
        "alternatives": [c | {"match": "strong", "matched_words": [], "outside_filters": [bound]} for c in cards],
        "note": "No product matches ...",
    }


def test_the_answer_names_the_shops_cheapest_products_in_the_order_given() -> None:
    messages = conversation("do you ship to Canada?", "and the cheapest one?")
    text = answered(messages, CHEAPEST, beyond("max_price", SHAMPOO, DICE, TOOTHBRUSH))
    assert text == (
        "The cheapest product in our shop is Solid Shampoo Bar (prod_a) at 10.99 EUR or 11.99 USD.\n\nNext by price:\n"
        "- Dice Set (prod_b): 11.99 EUR or 12.99 USD\n- Bamboo Toothbrush Set (prod_c): 11.99 EUR or 12.99 USD"
    )


def test_free_products_come_before_the_cheapest_priced_ones() -> None:
    gift = card("prod_free", "Gift Card Sleeve", "0.00 EUR")
    text = answered(conversation("and the cheapest one?"), CHEAPEST, beyond("max_price", SHAMPOO, products=(gift,)))
    assert text.startswith("The cheapest product in our shop is Gift Card Sleeve (prod_free) at 0.00 EUR.")
    assert "- Solid Shampoo Bar (prod_a)" in text


def test_the_dearest_and_a_currency_are_said_as_asked() -> None:
    desk = card("prod_d", "Standing Desk Pro", "795.99 EUR", "875.99 USD")
    text = answered(conversation("what's your priciest item?"), DEAREST, beyond("min_price", desk, DICE))
    assert text.startswith("The most expensive product in our shop is Standing Desk Pro (prod_d) at 795.99 EUR")
    messages = conversation("do you ship to Canada?", "and the cheapest one in USD?")
    in_usd = card("prod_a", "Solid Shampoo Bar", "11.99 USD")
    text = answered(messages, CHEAPEST | {"currency": "USD"}, beyond("max_price", in_usd, currency="USD"))
    assert text == "The cheapest product in our shop priced in USD is Solid Shampoo Bar (prod_a) at 11.99 USD."


def test_a_search_tool_that_lists_no_alternatives_gets_no_guess() -> None:
    """A site's own search tool, without alternatives: the model widens the search once, and since
    neither output says what the shop's cheapest is, it asks for a kind of product."""
    messages = conversation("and the cheapest one?")
    first = [
        Message("assistant", json.dumps(CHEAPEST), name="search_products"),
        Message("tool", json.dumps({"products": []}), name="search_products"),
    ]
    widened = respond([*messages, *first], TOOLS, now=NOW)
    assert [(n, json.loads(a)) for n, a in widened.tool_calls] == [
        ("search_products", {"query": "products", "limit": 10})
    ]
    second = [
        Message("assistant", widened.tool_calls[0][1], name="search_products"),
        Message("tool", json.dumps({"products": [DICE, SHAMPOO]}), name="search_products"),
    ]
    answer = respond([*messages, *first, *second], TOOLS, now=NOW)
    assert answer.text.startswith("I can only compare prices within a kind of product")


def test_a_follow_up_of_the_shop_s_cheapest_changes_what_it_asks_not_the_bound_behind_it() -> None:
    """The shop-wide search's bound (no price passes it) is a device, not a price the visitor gave:
    a follow-up turns it around, carries it to another currency, or drops it for a kind of product."""
    nothing = {"query": "products", "filters": {}, "products": []}
    cheapest = _searched("what's the cheapest thing you have?", CHEAPEST, nothing)
    assert planned([*cheapest, Message("user", "and the most expensive?")]) == [("search_products", DEAREST)]
    assert planned([*cheapest, Message("user", "and in USD?")]) == [("search_products", CHEAPEST | {"currency": "USD"})]
    [(name, args)] = planned([*cheapest, Message("user", "and tents?")])
    assert name == "search_products" and args["query"] == "tents"
    assert args.get("max_price") is None and args.get("min_price") is None
    dearest = _searched("what's your priciest item?", DEAREST, nothing)
    assert planned([*dearest, Message("user", "and the cheapest one?")]) == [("search_products", CHEAPEST)]
