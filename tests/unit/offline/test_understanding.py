"""The understanding step on many phrasings: which tool, which arguments."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from proxy.leads.tools import register_lead_tools
from proxy.offline import Message, ToolSpec, respond
from proxy.offline.entities import find_limit, own_name, person_name
from proxy.offline.money import PriceBounds, find_prices
from proxy.offline.periods import find_period
from proxy.shop.tools import register_shop_tools
from proxy.tools.registry import ToolRegistry

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NAMES = [
    "search_products",
    "get_product",
    "find_customer",
    "customer_orders",
    "shop_insights",
    "capture_lead",
    "escalate_to_human",
]


def _specs(names: list[str]) -> list[ToolSpec]:
    registry = ToolRegistry()
    register_shop_tools(registry)
    register_lead_tools(registry)
    return [ToolSpec(t.name, t.description, t.parameters) for t in registry.subset(names)]


TOOLS = _specs(NAMES)


def calls(text: str, tools: list[ToolSpec] = TOOLS) -> list[tuple[str, dict[str, Any]]]:
    answer = respond([Message("user", text)], tools, now=NOW)
    return [(name, json.loads(args)) for name, args in answer.tool_calls]


def one_call(text: str) -> tuple[str, dict[str, Any]]:
    found = calls(text)
    assert len(found) == 1, (text, found)
    return found[0]


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("What are the most popular products sold?", "best_sellers"),
        ("what are your best sellers", "best_sellers"),
        ("which items sell the most?", "best_sellers"),
        ("top selling products this year", "best_sellers"),
        ("most popluar prodcts?", "best_sellers"),
        ("bestsellers", "best_sellers"),
        ("Who made the cheapest purchase, and what did they buy?", "cheapest_purchase"),
        ("who made the cheapest purchase? how much, what?", "cheapest_purchase"),
        ("smallest order ever", "cheapest_purchase"),
        ("cheapst purchse", "cheapest_purchase"),
        ("what was the biggest order", "largest_purchase"),
        ("most expensive purchase last year", "largest_purchase"),
        ("Which products are bought together?", "bought_together"),
        ("what do people usually buy together", "bought_together"),
        ("frequently bought with each other?", "bought_together"),
        ("wich products are often bougth together?", "bought_together"),
        ("Waht are the most popluar products?", "best_sellers"),
        ("revnue march", "revenue"),
        ("What was the revenue in March?", "revenue"),
        ("how much did we make last month", "revenue"),
        ("average order value", "revenue"),
        ("turnover 2026", "revenue"),
        ("what's the repeat purchase rate", "repeat_purchase_rate"),
        ("how many customers come back and buy again?", "repeat_purchase_rate"),
        ("Who are our top customers?", "top_customers"),
        ("who spent the most?", "top_customers"),
        ("our best clients", "top_customers"),
        ("what do customers buy as their second product", "second_product"),
    ],
)
def test_insight_questions(text: str, question: str) -> None:
    name, args = one_call(text)
    assert name == "shop_insights" and args["question"] == question


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Do you have a waterproof jacket under 150 EUR?",
            {"query": "waterproof jacket", "max_price": 150, "currency": "EUR"},
        ),
        ("Wireless headphones under $100?", {"query": "wireless headphones", "max_price": 100, "currency": "USD"}),
        ("What tents do you have?", {"query": "tents"}),
        (
            "hiking backpack between 50 and 80 euros",
            {"query": "hiking backpack", "min_price": 50, "max_price": 80, "currency": "EUR"},
        ),
        (
            "any trail running shoes for less than fifty bucks",
            {"query": "trail running shoes", "max_price": 50, "currency": "USD"},
        ),
        ("I'm looking for a gift for a coffee lover", {"query": "gift coffee lover"}),
        ("can you help me find a tent?", {"query": "tent"}),
        ("€150 jacket", {"query": "jacket", "max_price": 150, "currency": "EUR"}),
        ("how much is the espresso machine?", {"query": "espresso machine"}),
        ("yoga mats over 60 eur", {"query": "yoga mats", "min_price": 60, "currency": "EUR"}),
    ],
)
def test_product_searches(text: str, expected: dict[str, Any]) -> None:
    name, args = one_call(text)
    assert name == "search_products"
    assert args == expected


def test_customers_orders_leads_and_handoffs() -> None:
    assert one_call("is there a customer named Justin?") == ("find_customer", {"name": "Justin"})
    assert one_call("look up the customer anna.berg@example.com") == (
        "find_customer",
        {"email": "anna.berg@example.com"},
    )
    assert one_call("Where is my last order?") == ("customer_orders", {})
    assert one_call("What did I buy in March?") == ("customer_orders", {"limit": 50})
    assert one_call("show me orders of cus_demo00012") == ("customer_orders", {"customer_id": "cus_demo00012"})
    assert one_call("what did Emma Wagner buy?") == ("find_customer", {"name": "Emma Wagner"})
    assert one_call("tell me about prod_demo0001") == ("get_product", {"product_id": "prod_demo0001"})
    name, args = one_call("Please contact me at jane.doe@example.com, my name is Jane Doe. I need 20 tents.")
    assert name == "capture_lead" and args["email"] == "jane.doe@example.com" and args["name"] == "Jane Doe"
    assert args["consent"] is True
    assert one_call("Can I talk to a person?")[0] == "escalate_to_human"
    assert one_call("i want to speak with a real human please")[0] == "escalate_to_human"


@pytest.mark.parametrize(
    "text",
    ["hi", "hello there", "thanks!", "thank you so much", "what can you do?", "are you a bot?", "bye", "asdfghjkl"],
)
def test_small_talk_and_nonsense_get_words_not_calls(text: str) -> None:
    answer = respond([Message("user", text)], TOOLS, now=NOW)
    assert answer.tool_calls == () and answer.text and "{" not in answer.text


def test_a_lead_without_an_email_asks_for_one_then_saves_it() -> None:
    first = respond([Message("user", "I'd like a quote for 20 tents")], TOOLS, now=NOW)
    assert first.tool_calls == () and "email" in first.text
    second = respond(
        [
            Message("user", "I'd like a quote for 20 tents"),
            Message("assistant", first.text),
            Message("user", "bob@example.org"),
        ],
        TOOLS,
        now=NOW,
    )
    [(name, raw)] = second.tool_calls
    args = json.loads(raw)
    assert name == "capture_lead" and args["email"] == "bob@example.org" and "quote" in args["message"]


def _turn(user: str, name: str, args: dict[str, Any], output: Any) -> list[Message]:
    return [
        Message("user", user),
        Message("assistant", json.dumps(args), name=name),
        Message("tool", json.dumps(output), name=name),
        Message("assistant", "(answer)"),
    ]


def test_follow_ups_reuse_the_previous_question() -> None:
    earlier = _turn(
        "What was the revenue in March?",
        "shop_insights",
        {"question": "revenue", "date_from": "2026-03-01", "date_to": "2026-03-31"},
        {"revenue": "1.00 EUR", "orders": 1, "average_order_value": "1.00 EUR"},
    )
    answer = respond([*earlier, Message("user", "what about April?")], TOOLS, now=NOW)
    [(name, raw)] = answer.tool_calls
    assert name == "shop_insights"
    assert json.loads(raw) == {"question": "revenue", "date_from": "2026-04-01", "date_to": "2026-04-30"}

    search = _turn("What tents do you have?", "search_products", {"query": "tents"}, {"query": "tents", "products": [
        {"id": "prod_a", "name": "Tent A", "prices": ["279.00 EUR"]},
        {"id": "prod_b", "name": "Tent B", "prices": ["404.00 EUR"]},
    ]})  # fmt: skip
    cheaper = respond([*search, Message("user", "and the cheapest one?")], TOOLS, now=NOW)
    assert [(n, json.loads(a)) for n, a in cheaper.tool_calls] == [("search_products", {"query": "tents", "limit": 10})]
    second = respond([*search, Message("user", "tell me more about the second one")], TOOLS, now=NOW)
    assert [(n, json.loads(a)) for n, a in second.tool_calls] == [("get_product", {"product_id": "prod_b"})]
    under = respond([*search, Message("user", "and under 300 euros?")], TOOLS, now=NOW)
    assert json.loads(under.tool_calls[0][1]) == {"query": "tents", "currency": "EUR", "max_price": 300}


def test_unknown_tools_are_filled_from_their_schema() -> None:
    weather = ToolSpec(
        "order_status",
        "Look up the delivery status of an order by its order number and the customer's email.",
        {
            "type": "object",
            "properties": {
                "order_number": {"type": "string"},
                "email": {"type": "string"},
                "carrier": {"type": "string", "enum": ["dhl", "ups", "fedex"]},
            },
            "required": ["order_number", "email"],
        },
    )
    found = calls("what's the delivery status of order DEMO-000123? my email is a@b.co, it went with UPS", [weather])
    assert found == [("order_status", {"order_number": "DEMO-000123", "email": "a@b.co", "carrier": "ups"})]
    answer = respond(
        [
            Message("user", "status of order DEMO-000123, email a@b.co"),
            Message("assistant", '{"order_number": "DEMO-000123", "email": "a@b.co"}', name="order_status"),
            Message(
                "tool",
                json.dumps({"status": "shipped", "eta": "2026-12-03", "items": [{"name": "Tent"}]}),
                name="order_status",
            ),
        ],
        [weather],
        now=NOW,
    )
    assert "shipped" in answer.text and "2026-12-03" in answer.text and "{" not in answer.text


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        ("under $100", PriceBounds(None, 100, "USD")),
        ("between 50 and 80 euros", PriceBounds(50, 80, "EUR")),
        ("€150", PriceBounds(None, 150, "EUR")),
        ("less than a hundred dollars", PriceBounds(None, 100, "USD")),
        ("from 20 to 40 $", PriceBounds(20, 40, "USD")),
        ("1,299.00 € max", PriceBounds(None, 1299, "EUR")),
        ("over 200 USD", PriceBounds(200, None, "USD")),
        ("tents under 300?", PriceBounds(None, 300, None)),
        ("jackets 100-200 eur", PriceBounds(100, 200, "EUR")),
        ("prices in USD", PriceBounds(None, None, "USD")),
        ("top 5 customers", PriceBounds()),
        ("revenue in 2026", PriceBounds()),
        ("2-person tent", PriceBounds()),
    ],
)
def test_prices(text: str, bounds: PriceBounds) -> None:
    assert find_prices(text) == bounds


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("in March", date(2026, 3, 1), date(2026, 3, 31)),
        ("last month", date(2026, 11, 1), date(2026, 11, 30)),
        ("this year", date(2026, 1, 1), date(2026, 12, 1)),
        ("since May", date(2026, 5, 1), date(2026, 12, 1)),
        ("between March and May", date(2026, 3, 1), date(2026, 5, 31)),
        ("in December", date(2026, 12, 1), date(2026, 12, 1)),
        ("November 2025", date(2025, 11, 1), date(2025, 11, 30)),
        ("in the last 30 days", date(2026, 11, 1), date(2026, 12, 1)),
        ("Q1", date(2026, 1, 1), date(2026, 3, 31)),
        ("last year", date(2025, 1, 1), date(2025, 12, 31)),
        ("from 2026-02-03 to 2026-02-10", date(2026, 2, 3), date(2026, 2, 10)),
        ("in the summer", date(2026, 6, 1), date(2026, 8, 31)),
        ("last winter", date(2025, 12, 1), date(2026, 2, 28)),
    ],
)
def test_periods(text: str, start: date, end: date) -> None:
    period = find_period(text, NOW)
    assert period is not None and (period.start, period.end) == (start, end)


def test_no_period_in_may_i() -> None:
    assert find_period("may I ask a question?", NOW) is None


def test_a_month_ahead_of_now_is_last_years() -> None:
    period = find_period("in March", datetime(2026, 2, 10, tzinfo=UTC))
    assert period is not None and period.start == date(2025, 3, 1)


def test_names_and_limits() -> None:
    assert person_name("is there a customer named justin?") == "Justin"
    assert person_name("what did Emma Wagner buy?") == "Emma Wagner"
    assert person_name("What are your best sellers?") is None
    assert own_name("hi, I'm Bob and I want a quote") == "Bob"
    assert own_name("my name is jane doe") == "Jane Doe"
    assert find_limit("top 5 customers") == 5
    assert find_limit("the three cheapest tents") == 3
    assert find_limit("best sellers") is None


def test_follow_ups_work_on_a_transcript_of_text_only() -> None:
    """Chat Completions histories keep the words, not the tool items: the model plans the earlier
    question again and reads product ids from its earlier reply."""
    earlier = [
        Message("user", "What tents do you have?"),
        Message("assistant", "Here is what we have:\n- Tent A (prod_a): 279.00 EUR\n- Tent B (prod_b): 404.00 EUR"),
    ]
    cheaper = respond([*earlier, Message("user", "and the cheapest one?")], TOOLS, now=NOW)
    assert [(n, json.loads(a)) for n, a in cheaper.tool_calls] == [("search_products", {"query": "tents", "limit": 10})]
    second = respond([*earlier, Message("user", "tell me more about the second one")], TOOLS, now=NOW)
    assert [(n, json.loads(a)) for n, a in second.tool_calls] == [("get_product", {"product_id": "prod_b"})]
    revenue = [Message("user", "What was the revenue in March?"), Message("assistant", "Revenue from ...")]
    april = respond([*revenue, Message("user", "what about April?")], TOOLS, now=NOW)
    assert json.loads(april.tool_calls[0][1]) == {
        "question": "revenue",
        "date_from": "2026-04-01",
        "date_to": "2026-04-30",
    }


@pytest.mark.parametrize(
    ("text", "tool", "expected"),
    [
        ("Which product sells best?", "shop_insights", {"question": "best_sellers"}),
        ("which items are most frequently ordered", "shop_insights", {"question": "best_sellers"}),
        ("what are customers buying most", "shop_insights", {"question": "best_sellers"}),
        ("how did sales go last month", "shop_insights", {"question": "revenue", "date_from": "2026-11-01"}),
        ("who bought the least expensive thing", "shop_insights", {"question": "cheapest_purchase"}),
        ("what do customers buy after their first order", "shop_insights", {"question": "second_product"}),
        ("do we have a client called Oscar Jansen?", "find_customer", {"name": "Oscar Jansen"}),
        ("what orders did oscar jansen place", "find_customer", {"name": "Oscar Jansen"}),
        ("when did I last order something", "customer_orders", {}),
        ("have I ever bought a tent", "customer_orders", {}),
        ("my order hasn't arrived", "customer_orders", {}),
        ("this is useless, I want a manager", "escalate_to_human", {}),
        ("get me a human", "escalate_to_human", {}),
        ("what do people buy with yoga mats", "search_products", {"query": "yoga mats"}),
        ("have you got any headlamps?", "search_products", {"query": "headlamps"}),
        ("top 5 products in USD revenue", "shop_insights", {"question": "best_sellers", "by": "revenue", "limit": 5}),
        ("which product made the most money?", "shop_insights", {"question": "best_sellers", "by": "revenue"}),
        ("How many orders did we have in March?", "shop_insights", {"question": "revenue"}),
        ("how many customers do we have?", "shop_insights", {"question": "repeat_purchase_rate"}),
        ("show me gifts under 30€", "search_products", {"query": "gifts", "max_price": 30, "currency": "EUR"}),
        ("chef's knife?", "search_products", {"query": "chef knife"}),
        ("any deals on coffee grinders?", "search_products", {"query": "coffee grinders"}),
        ("black and white mug", "search_products", {"query": "black white mug"}),
    ],
)
def test_held_out_phrasings(text: str, tool: str, expected: dict[str, Any]) -> None:
    """Phrasings the cues were not first written for: a miss here is fixed for its whole class."""
    name, args = one_call(text)
    assert name == tool
    assert {k: args.get(k) for k in expected} == expected


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("are you a real person?", "automated assistant"),
        ("are you a bot", "automated assistant"),
        ("how are you today?", "doing well"),
        ("ok", "Alright"),
        ("lol", "Alright"),
        ("I'm interested in bulk pricing for my company", "email address"),
        ("what's your return policy?", "returns and refunds"),
        ("do you ship to Germany?", "shipping"),
        ("how do I pay?", "payment"),
    ],
)
def test_held_out_small_talk(text: str, reply: str) -> None:
    answer = respond([Message("user", text)], TOOLS, now=NOW)
    assert answer.tool_calls == () and reply in answer.text


def test_several_products_are_searched_in_parallel() -> None:
    assert calls("I want to buy a tent and a sleeping bag") == [
        ("search_products", {"query": "tent"}),
        ("search_products", {"query": "sleeping bag"}),
    ]
