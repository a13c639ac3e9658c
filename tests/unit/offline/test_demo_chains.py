"""The follow-ups a visitor of the demo asks after its suggested questions, answered as a shop
assistant would: the products just shown in another currency (the limit as given), the one
customer asked about again for another month, a person named before, contact details left after
a handoff, a question about the world outside the shop."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from proxy.offline import Message, respond
from tests.unit.offline.test_list_follow_ups import FRAME, TOP
from tests.unit.offline.test_understanding import NOW, TOOLS

Call = tuple[str, dict[str, Any]]
Tools = Callable[[str, dict[str, Any]], Any]

JACKETS = {
    "prod_tidal": {"id": "prod_tidal", "name": "Tidal Waterproof Jacket", "prices": ["188.99 EUR", "207.99 USD"]},
    "prod_summit": {"id": "prod_summit", "name": "Summit Waterproof Jacket", "prices": ["273.99 EUR", "300.99 USD"]},
}
MARCH = "2026-03-01 .. 2026-03-31 (inclusive, UTC)"


class Chat:
    """One conversation; every tool call is answered by ``tools(name, arguments)``."""

    def __init__(self, tools: Tools) -> None:
        self.tools = tools
        self.messages: list[Message] = []

    def ask(self, text: str) -> tuple[list[Call], str]:
        self.messages.append(Message("user", text))
        made: list[Call] = []
        answer = respond(self.messages, TOOLS, now=NOW)
        while answer.tool_calls:
            for name, raw in answer.tool_calls:
                made.append((name, json.loads(raw)))
                self.messages.append(Message("assistant", raw, name=name))
                self.messages.append(Message("tool", json.dumps(self.tools(name, json.loads(raw))), name=name))
            answer = respond(self.messages, TOOLS, now=NOW)
        self.messages.append(Message("assistant", answer.text))
        return made, answer.text


def jacket_shop(name: str, args: dict[str, Any]) -> Any:
    if name == "get_product":
        return JACKETS[args["product_id"]]
    assert name == "search_products"
    currency = args.get("currency", "EUR").upper()
    cards = [c | {"match": "strong"} for c in JACKETS.values()]
    priced = [c for c in cards if float(next(p for p in c["prices"] if p.endswith(currency)).split()[0]) <= 150]
    filters = {k: args[k] for k in ("currency", "max_price") if k in args}
    if priced:
        return {"query": args["query"], "filters": filters, "products": priced, "nothing_matches": False}
    return {"query": args["query"], "filters": filters, "products": [], "nothing_matches": True, "alternatives": cards}


def test_in_dollars_after_a_kind_of_product_under_a_euro_limit_shows_those_products_in_dollars() -> None:
    chat = Chat(jacket_shop)
    chat.ask("Do you have a waterproof jacket under 150 EUR?")
    made, dollars = chat.ask("in dollars?")
    assert made == [("get_product", {"product_id": "prod_tidal"}), ("get_product", {"product_id": "prod_summit"})]
    assert dollars == (
        "In USD, those products cost:\n"
        "- Tidal Waterproof Jacket (prod_tidal): 207.99 USD\n"
        "- Summit Waterproof Jacket (prod_summit): 300.99 USD\n\n"
        "Your limit stays as you gave it, at or under 150 EUR: our USD prices are set on their own, not converted."
    )
    made, dearest = chat.ask("the most expensive?")  # of those, in the currency they were shown in last
    assert [name for name, _ in made] == ["get_product", "get_product"]
    assert dearest == (
        "The most expensive of those is Summit Waterproof Jacket (prod_summit) at 300.99 USD."
        "\n\nNext by price:\n- Tidal Waterproof Jacket (prod_tidal): 207.99 USD"
    )


def test_a_new_limit_after_products_shown_in_another_currency_is_in_that_currency() -> None:
    chat = Chat(jacket_shop)
    chat.ask("Do you have a waterproof jacket under 150 EUR?")
    chat.ask("in dollars?")
    made, _ = chat.ask("what about under 250?")
    assert made == [("search_products", {"query": "waterproof jacket", "currency": "USD", "max_price": 250})]


def insights(name: str, args: dict[str, Any]) -> Any:
    if name == "find_customer":
        return {"customers": [{"id": args["customer_id"], "name": "Tara Richter", "email": "tara@example.net"}]}
    assert name == "shop_insights" and args["question"] == "top_customers"
    if args.get("rank") != "least":
        return FRAME | {"customers": TOP}
    period = {"period": MARCH} if args.get("date_from") == "2026-03-01" else {}
    low = [
        {"id": "cus_9", "name": "Tara Richter", "email": "tara@example.net", "orders": 1, "spent": "11.99 EUR"},
        {"id": "cus_8", "name": "Bo Small", "email": "bo@example.org", "orders": 1, "spent": "18.99 EUR"},
    ]
    return FRAME | period | {"rank": "least", "customers_ranked": 569, "customers": low}


def test_and_in_march_after_the_least_spender_of_all_is_the_least_spender_in_march() -> None:
    chat = Chat(insights)
    chat.ask("Who are our top customers?")
    chat.ask("who spent the least overall?")
    made, march = chat.ask("and in March?")
    assert made == [
        ("shop_insights", {"question": "top_customers", "rank": "least", "date_from": "2026-03-01",
                           "date_to": "2026-03-31"}),
    ]  # fmt: skip
    assert march.startswith(
        "Tara Richter (tara@example.net, cus_9) spent the least in March 2026 (of all 569 customers with paid"
        " orders in EUR): 11.99 EUR in 1 order."
    )
    made, her = chat.ask("tell me more about her")
    assert made == [("find_customer", {"customer_id": "cus_9"})]
    assert her == "Here is the customer record of Tara Richter (cus_9, tara@example.net)."


def test_and_in_march_after_the_top_customers_is_the_list_for_march() -> None:
    chat = Chat(insights)
    chat.ask("Who are our top customers?")
    made, _ = chat.ask("and in March?")
    assert made == [
        ("shop_insights", {"question": "top_customers", "date_from": "2026-03-01", "date_to": "2026-03-31"})
    ]


def test_by_revenue_after_a_months_best_sellers_ranks_that_months_best_sellers_by_revenue() -> None:
    chat = Chat(lambda name, args: {"ranked_by": args.get("by", "units"), "period": MARCH, "products": []})
    chat.ask("What are the most popular products sold?")
    chat.ask("and in March?")
    made, _ = chat.ask("by revenue?")
    expected = {"question": "best_sellers", "date_from": "2026-03-01", "date_to": "2026-03-31", "by": "revenue"}
    assert made == [("shop_insights", expected)]
    made, _ = chat.ask("in dollars?")
    assert made == [("shop_insights", expected | {"currency": "USD"})]


def test_a_name_and_email_after_asking_for_a_person_are_contact_details() -> None:
    handoff = {"handoff_id": 1, "tell_the_visitor": "Our team has your request."}
    chat = Chat(lambda name, args: handoff if name == "escalate_to_human" else {"lead_id": 1})
    chat.ask("Can I talk to a person?")
    made, reply = chat.ask("my name is Tom Test, tom.test@example.com")
    assert [name for name, _ in made] == ["capture_lead"]
    assert made[0][1]["email"] == "tom.test@example.com" and made[0][1]["name"] == "Tom Test"
    assert reply == "Thank you, your details are saved."


def test_a_signed_in_customer_asking_for_their_name_gets_their_record() -> None:
    made, _ = Chat(lambda name, args: {"customers": []}).ask("what's my name on your records?")
    assert [name for name, _ in made] == ["find_customer"]


def test_the_weather_is_outside_the_shop() -> None:
    made, reply = Chat(lambda name, args: None).ask("what's the weather in Paris?")
    assert made == []
    assert reply.startswith("I'm afraid I can't help with that: I only know about this shop. I can:")


def test_a_list_as_long_as_the_search_allowed_does_not_claim_to_be_all() -> None:
    mugs = [{"id": f"prod_{n}", "name": f"Mug {n}", "prices": [f"1{n}.99 EUR"], "match": "strong"} for n in range(5)]
    result = {"query": "products", "filters": {"currency": "EUR", "max_price": 20}, "products": mugs}
    _, reply = Chat(lambda name, args: result).ask("show me something under 20 euros")
    assert reply.startswith("Here are 5 of the products we have at or under 20 EUR:\n- Mug 0 (prod_0): 10.99 EUR")
    _, few = Chat(lambda name, args: result | {"products": mugs[:2]}).ask("show me something under 20 euros")
    assert few.startswith("Here is what we have at or under 20 EUR:")


def test_how_many_customers_says_the_count_first() -> None:
    rate = {
        "repeat_purchase_rate_percent": 78.4,
        "customers_with_two_or_more_orders": 1257,
        "customers_with_orders": 1603,
    }
    made, reply = Chat(lambda name, args: rate).ask("how many customers do we have?")
    assert made == [("shop_insights", {"question": "repeat_purchase_rate"})]
    assert reply == "1603 customers placed paid orders; 1257 of them (78.4%) ordered two or more times."
    _, rate_reply = Chat(lambda name, args: rate).ask("what's the repeat purchase rate?")
    assert rate_reply.startswith("The repeat purchase rate is 78.4%: 1257 of 1603 customers")


def test_the_most_expensive_of_one_product_shown_in_another_currency_is_that_one() -> None:
    def shop(name: str, args: dict[str, Any]) -> Any:
        if name == "get_product":
            return JACKETS[args["product_id"]]
        filters = {"currency": "EUR", "max_price": 200}
        return {"query": args["query"], "filters": filters, "products": [JACKETS["prod_tidal"] | {"match": "strong"}]}

    chat = Chat(shop)
    chat.ask("Do you have a waterproof jacket under 200 EUR?")
    _, dollars = chat.ask("in dollars?")
    assert dollars.startswith("In USD, that product costs:\n- Tidal Waterproof Jacket (prod_tidal): 207.99 USD")
    _, dearest = chat.ask("the most expensive?")
    assert dearest == "That is the only one: Tidal Waterproof Jacket (prod_tidal) at 207.99 USD."
