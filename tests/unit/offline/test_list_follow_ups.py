"""Follow-ups about the list just shown ("and the cheapest one?", "how much in total?", "how many
orders was that?", "and in April?"): answered about that list, from the outputs seeded here, or
said plainly when the list cannot answer them, never the same list again."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from proxy.offline import Message, respond
from tests.unit.offline.test_understanding import NOW, TOOLS


def _item(pid: str, name: str, quantity: int, amount: str) -> dict[str, Any]:
    return {"product_id": pid, "name": name, "quantity": quantity, "amount": amount}


# One signed-in customer's orders as customer_orders returns them (it takes no dates: newest first).
ORDERS = [
    {"invoice_id": "in_4", "number": "D-4", "date": "2026-10-27", "status": "paid", "total": "270.97 EUR",
     "items": [_item("prod_clock", "Wall Clock", 2, "141.98 EUR"), _item("prod_throw", "Wool Throw", 1, "128.99 EUR")]},
    {"invoice_id": "in_3", "number": "D-3", "date": "2026-03-21", "status": "open", "total": "40.00 EUR",
     "items": [_item("prod_lamp", "Desk Lamp", 1, "40.00 EUR")]},
    {"invoice_id": "in_2", "number": "D-2", "date": "2026-03-07", "status": "paid", "total": "150.98 EUR",
     "items": [_item("prod_knife", "Chef's Knife", 1, "128.99 EUR"), _item("prod_bear", "Plush Bear", 1, "21.99 EUR")]},
    {"invoice_id": "in_1", "number": "D-1", "date": "2025-12-21", "status": "paid", "total": "31.99 EUR",
     "items": [_item("prod_cubes", "Packing Cubes", 1, "31.99 EUR")]},
]  # fmt: skip
ORDERS_OUTPUT = {"customer_ids": ["cus_1"], "orders_total": len(ORDERS), "orders": ORDERS, "newest_first": True,
                 "more": False}  # fmt: skip
FRAME = {"period": "first order .. last order (inclusive, UTC)", "orders_are": "paid invoices", "currency": "EUR",
         "currencies_with_orders": ["EUR"]}  # fmt: skip
TOP = [
    {"id": f"cus_{n}", "name": name, "email": f"{name.split()[0].lower()}@example.com", "orders": orders,
     "spent": spent}
    for n, (name, orders, spent) in enumerate(
        [("Ida Hall", 127, "19608.33 EUR"), ("Oscar Jansen", 112, "18817.77 EUR"),
         ("Amelie Jansen", 104, "16550.86 EUR"), ("Marco Meijer", 105, "16310.95 EUR"),
         ("Samuel Ricci", 124, "16276.64 EUR"), ("Ben Klein", 90, "15000.00 EUR")]
    )
]  # fmt: skip
TOP_OUTPUT = FRAME | {"customers": TOP}


class Chat:
    """One conversation: each message is planned, its calls answered with ``output``, then written."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def ask(self, text: str, output: Any = None) -> tuple[list[tuple[str, dict[str, Any]]], str]:
        """The calls planned for ``text`` and the reply; every call of the turn returns ``output``."""
        self.messages.append(Message("user", text))
        answer = respond(self.messages, TOOLS, now=NOW)
        calls = [(name, json.loads(args)) for name, args in answer.tool_calls]
        while answer.tool_calls:
            assert output is not None, (text, calls)
            for name, args in answer.tool_calls:
                self.messages.append(Message("assistant", args, name=name))
                self.messages.append(Message("tool", json.dumps(output), name=name))
            answer = respond(self.messages, TOOLS, now=NOW)
        self.messages.append(Message("assistant", answer.text))
        return calls, answer.text


def _amount(money: str) -> Decimal:
    return Decimal(money.split()[0])


def _in(orders: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [o for o in orders if o["date"].startswith(prefix)]


def _unit(item: dict[str, Any]) -> Decimal:
    return _amount(item["amount"]) / item["quantity"]


def test_the_cheapest_dearest_and_total_of_a_months_orders_are_those_of_that_month() -> None:
    chat = Chat()
    _, listed = chat.ask("What did I buy in March?", ORDERS_OUTPUT)
    march = _in(ORDERS, "2026-03")
    assert all(o["number"] in listed for o in march)

    calls, cheapest = chat.ask("and the cheapest one?", ORDERS_OUTPUT)
    assert calls == [("customer_orders", {"limit": 50})]
    low = min(march, key=lambda o: _amount(o["total"]))
    low_item = min((i for o in march for i in o["items"]), key=_unit)
    assert f"The cheapest of your orders in March 2026 ({len(march)}) is {low['number']}" in cheapest
    assert f"The cheapest item in them: {low_item['name']} ({low_item['product_id']}), {low_item['amount']}" in cheapest
    assert cheapest != listed and not any(o["number"] in cheapest for o in ORDERS if o not in march)

    _, dearest = chat.ask("the most expensive?", ORDERS_OUTPUT)
    high = max(march, key=lambda o: _amount(o["total"]))
    high_item = max((i for o in march for i in o["items"]), key=_unit)
    assert f"The most expensive of your orders in March 2026 ({len(march)}) is {high['number']}" in dearest
    assert f"The most expensive item in them: {high_item['name']}" in dearest

    _, total = chat.ask("how much in total?", ORDERS_OUTPUT)
    paid = [o for o in march if o["status"] == "paid"]
    others = [o for o in march if o["status"] != "paid"]
    paid_sum = sum((_amount(o["total"]) for o in paid), Decimal(0))
    assert f"Your paid orders in March 2026 come to {paid_sum} EUR in all ({len(paid)} order" in total
    assert f"{len(others)} more order" in total and others[0]["status"] in total  # named, not added

    _, count = chat.ask("how many orders was that?", ORDERS_OUTPUT)
    assert count.startswith(f"You have {len(march)} orders in March 2026: {len(paid)} paid, {len(others)} open")

    calls, april = chat.ask("and in April?", ORDERS_OUTPUT)
    assert calls == [("customer_orders", {"limit": 50})]
    assert not _in(ORDERS, "2026-04") and april == "You have no orders in April 2026."
    _, november = chat.ask("what about last month?", ORDERS_OUTPUT)
    assert not _in(ORDERS, "2026-11") and november == "You have no orders in November 2026."


def test_a_pick_or_tally_after_the_last_order_is_about_all_the_orders() -> None:
    chat = Chat()
    _, last = chat.ask("Where is my last order?", ORDERS_OUTPUT)
    assert last.startswith(f"Your last order is {ORDERS[0]['number']}")
    calls, cheapest = chat.ask("and the cheapest one?", ORDERS_OUTPUT)
    assert calls == [("customer_orders", {"limit": 50})]
    low = min(ORDERS, key=lambda o: _amount(o["total"]))
    assert cheapest.startswith(f"The cheapest of your orders ({len(ORDERS)}) is {low['number']} on {low['date']}")
    _, how_many = chat.ask("how many orders was that?", ORDERS_OUTPUT)
    assert how_many == f"You have {ORDERS_OUTPUT['orders_total']} orders."


def test_a_month_with_one_order_names_it_and_its_cheapest_item() -> None:
    only = [o for o in ORDERS if o["status"] == "paid"]
    output = ORDERS_OUTPUT | {"orders": only, "orders_total": len(only)}
    chat = Chat()
    chat.ask("What did I buy in March?", output)
    [order] = _in(only, "2026-03")
    _, cheapest = chat.ask("and the cheapest one?", output)
    item = min(order["items"], key=_unit)
    assert cheapest.startswith(f"Your only order in March 2026 is {order['number']} on {order['date']}")
    assert f"The cheapest item in it: {item['name']} ({item['product_id']}), {item['amount']}." in cheapest


def test_a_line_of_several_units_is_compared_by_its_unit_price() -> None:
    chat = Chat()
    chat.ask("What did I buy in October?", ORDERS_OUTPUT)
    [order] = _in(ORDERS, "2026-10")
    _, cheapest = chat.ask("and the cheapest one?", ORDERS_OUTPUT)
    item = min(order["items"], key=_unit)
    assert item["quantity"] > 1  # the seeded line whose total is not its unit price
    assert f"{item['name']} ({item['product_id']}), {_unit(item):.2f} EUR each ({item['quantity']} for" in cheapest


def test_the_top_customers_follow_ups_answer_about_the_customers_shown() -> None:
    chat = Chat()
    _, listed = chat.ask("Who are our top customers?", TOP_OUTPUT)
    shown = [c for c in TOP if c["name"] in listed]
    assert len(shown) == 5 and TOP[-1]["name"] not in listed

    for question in ("and the cheapest one?", "who spent the least of them?", "which of those spent the least"):
        calls, least = chat.ask(question, TOP_OUTPUT)
        assert calls == [("shop_insights", {"question": "top_customers"})]
        low = min(shown, key=lambda c: _amount(c["spent"]))
        assert f"Of our top 5 customers by spend, {low['name']} ({low['email']}, {low['id']}) spent the least:" in least
        assert f"{low['spent']} in {low['orders']} orders" in least
        assert 'Ask "who spent the least overall?"' in least and least != listed

    _, most = chat.ask("the most expensive?", TOP_OUTPUT)
    high = max(shown, key=lambda c: _amount(c["spent"]))
    assert f"{high['name']} ({high['email']}, {high['id']}) spent the most: {high['spent']}" in most

    calls, count = chat.ask("how many orders was that?", TOP_OUTPUT)
    assert calls == [("shop_insights", {"question": "top_customers"})]  # still the top customers, not revenue
    orders = sum(c["orders"] for c in shown)
    assert count == f"Our top 5 customers by spend placed {orders} orders between them.\n\nAmounts are in EUR."
    _, total = chat.ask("how much in total?", TOP_OUTPUT)
    spent = sum((_amount(c["spent"]) for c in shown), Decimal(0))
    assert f"placed {orders} orders between them and spent {spent} EUR in all." in total


def test_a_period_without_orders_says_so_for_the_top_customers() -> None:
    chat = Chat()
    chat.ask("Who are our top customers?", TOP_OUTPUT)
    empty = {"period": "2026-11-01 .. 2026-11-30 (inclusive, UTC)", "orders_are": "paid invoices", "currency": None,
             "currencies_with_orders": [], "customers": []}  # fmt: skip
    calls, november = chat.ask("and last month?", empty)
    assert calls == [
        ("shop_insights", {"question": "top_customers", "date_from": "2026-11-01", "date_to": "2026-11-30"})
    ]
    assert november == "No customer placed a paid order in November 2026."
    _, count = chat.ask("how many orders was that?", empty)
    assert count == november


def test_a_list_that_cannot_be_ranked_or_added_up_says_so_instead_of_showing_itself_again() -> None:
    best = FRAME | {"ranked_by": "units", "products": [
        {"id": "prod_roller", "name": "Foam Roller", "units": 1374, "orders": 1308},
        {"id": "prod_oil", "name": "Beard Oil", "units": 1093, "orders": 1037},
    ]}  # fmt: skip
    chat = Chat()
    _, listed = chat.ask("What are the most popular products sold?", best)
    assert "Foam Roller" in listed
    calls, cheapest = chat.ask("and the cheapest one?")
    assert calls == [] and "Foam Roller" not in cheapest
    assert cheapest.startswith("The best sellers come from the order figures without their prices, so I can't pick")
    calls, total = chat.ask("how many orders was that?")
    assert calls == [] and "don't add up to one number" in total

    tents = {"query": "tents", "products": [{"id": "prod_t", "name": "Tent", "prices": ["278.99 EUR"]}]}
    chat = Chat()
    chat.ask("What tents do you have?", tents)
    calls, summed = chat.ask("how much in total?")
    assert calls == [] and summed.startswith("Those are products in our catalogue, not an order")


def test_the_cheapest_one_after_a_periods_revenue_is_its_cheapest_purchase() -> None:
    revenue = FRAME | {"revenue": "10.00 EUR", "orders": 1, "customers": 1, "average_order_value": "10.00 EUR"}
    chat = Chat()
    chat.ask("What was the revenue in March?", revenue)
    calls, _ = chat.ask("and the cheapest one?", FRAME | {"which": "cheapest", "orders": []})
    assert calls == [
        ("shop_insights", {"question": "cheapest_purchase", "date_from": "2026-03-01", "date_to": "2026-03-31"})
    ]


def test_something_under_a_price_after_a_kind_of_product_is_any_product() -> None:
    jackets = {"query": "waterproof jacket", "products": [{"id": "prod_j", "name": "Jacket", "prices": ["188.99 EUR"]}]}
    chat = Chat()
    chat.ask("Do you have a waterproof jacket?", jackets)
    calls, _ = chat.ask("show me something under 20", {"query": "products", "products": []})
    assert calls == [("search_products", {"query": "products", "max_price": 20})]


def test_the_cheapest_one_after_none_under_a_price_is_the_cheapest_of_that_kind() -> None:
    jackets = [
        {"id": "prod_j2", "name": "Summit Waterproof Jacket", "prices": ["273.99 EUR"], "match": "strong"},
        {"id": "prod_j1", "name": "Tidal Waterproof Jacket", "prices": ["188.99 EUR"], "match": "strong"},
    ]
    output = {"query": "waterproof jacket", "filters": {"currency": "EUR", "max_price": 150}, "products": [],
              "nothing_matches": True, "alternatives": jackets}  # fmt: skip
    chat = Chat()
    _, first = chat.ask("Do you have a waterproof jacket under 150 EUR?", output)
    calls, cheapest = chat.ask("and the cheapest one?", output)
    assert calls == [
        ("search_products", {"query": "waterproof jacket", "currency": "EUR", "max_price": 150, "limit": 10})
    ]
    low = min(jackets, key=lambda c: _amount(c["prices"][0]))
    assert cheapest.startswith(f'The cheapest match for "waterproof jacket" is {low["name"]} ({low["id"]}) at')
    assert cheapest.endswith('Nothing that matches "waterproof jacket" is at or under 150 EUR.') and cheapest != first


def test_items_of_the_same_price_are_named_together() -> None:
    chat = Chat()
    chat.ask("show me my orders", ORDERS_OUTPUT)
    _, dearest = chat.ask("the most expensive?", ORDERS_OUTPUT)
    top = max(_unit(i) for o in ORDERS for i in o["items"])
    tied = [i for o in ORDERS for i in o["items"] if _unit(i) == top]
    assert len(tied) == 2  # the seeded Wool Throw and Chef's Knife cost the same
    assert (
        f"The most expensive item in them: {tied[0]['name']} ({tied[0]['product_id']}), {tied[0]['amount']}" in dearest
    )
    assert f"; {tied[1]['name']} ({tied[1]['product_id']}) costs the same." in dearest


def test_who_spent_the_least_after_a_months_top_customers_is_about_that_month() -> None:
    chat = Chat()
    chat.ask("Who are our top customers?", TOP_OUTPUT)
    march = {"question": "top_customers", "date_from": "2026-03-01", "date_to": "2026-03-31"}
    calls, _ = chat.ask("and in March?", TOP_OUTPUT)
    assert calls == [("shop_insights", march)]
    calls, least = chat.ask("who of them spent the least?", TOP_OUTPUT)
    assert calls == [("shop_insights", march)]
    low = min(TOP[:5], key=lambda c: _amount(c["spent"]))
    assert least.startswith(f"Of our top 5 customers by spend, {low['name']}")
    calls, _ = chat.ask("who spent the least?", TOP_OUTPUT)
    assert calls == [("shop_insights", march | {"rank": "least"})]  # of all customers, in that month


def test_in_dollars_after_an_answer_in_dollars_says_so_instead_of_repeating_it() -> None:
    usd = FRAME | {"currency": "usd", "currencies_with_orders": ["eur", "usd"], "customers": TOP[:2]}
    chat = Chat()
    calls, _ = chat.ask("Who are our top customers in USD?", usd)
    assert calls == [("shop_insights", {"question": "top_customers", "currency": "USD"})]
    for question in ("in dollars?", "and in USD?"):
        calls, again = chat.ask(question)
        assert calls == [] and again == "Those amounts are already in USD."
    calls, _ = chat.ask("and in euros?", usd)
    assert calls == [("shop_insights", {"question": "top_customers", "currency": "EUR"})]

    headphones = {"query": "wireless headphones", "filters": {"currency": "USD", "max_price": 100}, "products": [],
                  "nothing_matches": True, "alternatives": []}  # fmt: skip
    chat = Chat()
    chat.ask("Wireless headphones under $100?", headphones)
    calls, again = chat.ask("in dollars?")
    assert calls == [] and again == "Those amounts are already in USD."


def test_in_dollars_after_an_answer_in_euros_shows_the_dollar_figures() -> None:
    chat = Chat()
    chat.ask("Who are our top customers?", TOP_OUTPUT)  # no currency asked: the shop's main one, EUR
    calls, _ = chat.ask("in dollars?", TOP_OUTPUT)
    assert calls == [("shop_insights", {"question": "top_customers", "currency": "USD"})]
    chat = Chat()  # a transcript of text only, of a shop whose main currency is USD: the amounts say
    chat.messages.append(Message("user", "Who are our top customers?"))
    chat.messages.append(Message("assistant", "Our top customers by spend:\n1. Mia Bakker: 17774.81 USD in 119 orders"))
    calls, again = chat.ask("in dollars?")
    assert calls == [] and again == "Those amounts are already in USD."


def test_it_after_a_pick_is_the_product_the_reply_named_first() -> None:
    speaker = {"id": "prod_speaker", "name": "Waterproof Speaker", "prices": ["88.99 EUR"], "match": "partial"}
    jackets = [
        {"id": "prod_j1", "name": "Tidal Waterproof Jacket", "prices": ["207.99 USD"], "match": "strong"},
        {"id": "prod_j2", "name": "Summit Waterproof Jacket", "prices": ["300.99 USD"], "match": "strong"},
    ]
    output = {"query": "waterproof jacket", "filters": {"currency": "USD", "max_price": 150}, "products": [speaker],
              "nothing_matches": True, "alternatives": jackets}  # fmt: skip
    chat = Chat()
    chat.ask("Do you have a waterproof jacket under 150 USD?", output)
    _, dearest = chat.ask("the most expensive?", output)
    assert dearest.startswith('The most expensive match for "waterproof jacket" is Summit Waterproof Jacket')
    calls, _ = chat.ask("tell me more about it", jackets[1])
    assert calls == [("get_product", {"product_id": "prod_j2"})]  # the one named, not the partial match listed


def test_in_dollars_after_a_products_details_is_its_price_in_dollars() -> None:
    tent = {"id": "prod_t", "name": "Two-Person Tent", "prices": ["278.99 EUR", "306.99 USD"], "description": "x"}
    chat = Chat()
    chat.ask("tell me about prod_t", tent)
    calls, price = chat.ask("in dollars?", tent)
    assert calls == [("get_product", {"product_id": "prod_t"})]
    assert price == "Two-Person Tent (prod_t) costs 306.99 USD."
    _, none = chat.ask("and in pounds?", tent)
    assert none == "Two-Person Tent (prod_t) has no price in GBP; it costs 278.99 EUR or 306.99 USD."


def test_in_dollars_after_orders_charged_in_euros_says_so_and_what_is_in_it_stays_the_last_order() -> None:
    chat = Chat()
    chat.ask("Where is my last order?", ORDERS_OUTPUT)
    calls, dollars = chat.ask("in dollars?", ORDERS_OUTPUT)
    assert calls == [] and dollars.startswith("Those amounts were charged in EUR, and I can only show them")
    _, contents = chat.ask("what's in it?", ORDERS_OUTPUT)
    assert ORDERS[0]["number"] in contents and ORDERS[1]["number"] not in contents


def test_the_largest_after_the_cheapest_purchase_is_the_largest_purchase() -> None:
    cheapest = FRAME | {"which": "cheapest", "orders": []}
    chat = Chat()
    chat.ask("Who made the cheapest purchase, and what did they buy?", cheapest)
    calls, _ = chat.ask("in dollars?", cheapest)
    assert calls == [("shop_insights", {"question": "cheapest_purchase", "currency": "USD"})]
    for question in ("and the largest?", "the biggest?"):
        calls, _ = chat.ask(question, FRAME | {"which": "largest", "orders": []})
        assert calls == [("shop_insights", {"question": "largest_purchase", "currency": "USD"})]
    calls, _ = chat.ask("and the smallest?", cheapest)
    assert calls == [("shop_insights", {"question": "cheapest_purchase", "currency": "USD"})]


def test_a_currency_after_figures_without_money_says_so_and_by_month_follows_the_revenue() -> None:
    pairs = FRAME | {"pairs_bought_in_the_same_order": []}
    chat = Chat()
    chat.ask("Which products are bought together?", pairs)
    calls, same = chat.ask("in dollars?")
    assert calls == [] and same.startswith("Those figures count orders and customers, not money")
    revenue = FRAME | {"revenue": "10.00 EUR", "orders": 1, "customers": 1, "average_order_value": "10.00 EUR"}
    chat = Chat()
    chat.ask("What was the revenue in March?", revenue)
    calls, _ = chat.ask("by month", revenue)
    assert calls == [
        ("shop_insights", {"question": "revenue", "date_from": "2026-03-01", "date_to": "2026-03-31", "by_month": True})
    ]


def test_a_follow_up_after_a_products_details_changes_the_search_before_them() -> None:
    headphones = {"query": "wireless headphones", "products": [
        {"id": "prod_h", "name": "Wireless Headphones", "prices": ["273.99 USD"], "match": "strong"}]}  # fmt: skip
    chat = Chat()
    chat.ask("wireless headphones in USD", headphones)
    chat.ask("tell me more about it", headphones["products"][0])
    calls, _ = chat.ask("what about under 300?", headphones)
    assert calls == [("search_products", {"query": "wireless headphones", "currency": "USD", "max_price": 300})]


def test_a_currency_with_nothing_shown_before_asks_what_for() -> None:
    chat = Chat()
    chat.ask("Can I talk to a person?", {"tell_the_visitor": "Our team has your request."})
    calls, reply = chat.ask("in dollars?")
    assert calls == [] and reply.startswith("Which prices would you like in that currency?")


def test_how_much_in_total_after_the_last_order_is_that_orders_total_then_all_of_them() -> None:
    chat = Chat()
    chat.ask("Where is my last order?", ORDERS_OUTPUT)
    _, total = chat.ask("how much in total?", ORDERS_OUTPUT)
    paid = [o for o in ORDERS if o["status"] == "paid"]
    paid_sum = sum((_amount(o["total"]) for o in paid), Decimal(0))
    assert total.startswith(f"Your last order, {ORDERS[0]['number']}, comes to {ORDERS[0]['total']}. ")
    assert f"Your paid orders come to {paid_sum} EUR in all ({len(paid)} orders)" in total


def test_how_much_in_total_after_a_list_of_orders_is_the_sum_of_those_shown() -> None:
    chat = Chat()
    chat.ask("show me my orders", ORDERS_OUTPUT)
    _, total = chat.ask("how much in total?", ORDERS_OUTPUT)
    paid_sum = sum((_amount(o["total"]) for o in ORDERS if o["status"] == "paid"), Decimal(0))
    assert total.startswith(f"Your paid orders come to {paid_sum} EUR in all")


def test_how_many_orders_after_a_periods_revenue_gives_the_count_first_in_the_currency_asked() -> None:
    revenue = FRAME | {"currency": "USD", "currencies_with_orders": ["EUR", "USD"], "revenue": "1234.50 USD",
                       "orders": 256, "customers": 90, "average_order_value": "4.82 USD"}  # fmt: skip
    chat = Chat()
    chat.ask("Revenue in March in dollars", revenue | {"period": "2026-03-01 .. 2026-03-31 (inclusive, UTC)"})
    calls, how_many = chat.ask("how many orders was that?", revenue | {"period": "2026-03-01 .. 2026-03-31"})
    assert calls[0][1]["currency"] == "USD" and calls[0][1]["question"] == "revenue"
    assert how_many == "256 paid orders in March 2026, 1234.50 USD. Orders in EUR are counted separately."
