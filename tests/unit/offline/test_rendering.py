"""Writing answers from tool outputs: one renderer per output shape, never JSON, only facts given."""

from __future__ import annotations

import json
from typing import Any

import pytest

from proxy.offline import Answer, Message, ToolSpec, respond
from tests.unit.offline.test_understanding import NOW, TOOLS


def after(user: str, *steps: tuple[str, dict[str, Any], Any]) -> Answer:
    """The model's answer once ``steps`` (tool, arguments, output) ran for ``user``'s message."""
    messages = [Message("user", user)]
    for name, args, output in steps:
        messages.append(Message("assistant", json.dumps(args), name=name))
        messages.append(Message("tool", output if isinstance(output, str) else json.dumps(output), name=name))
    return respond(messages, TOOLS, now=NOW)


def card(pid: str, name: str, *prices: str, **extra: Any) -> dict[str, Any]:
    return {"id": pid, "name": name, "category": "Outdoor", "prices": list(prices), "description": "x"} | extra


JACKET = card("prod_j1", "Tidal Waterproof Hiking Jacket", "188.99 EUR")
JACKET_PRO = card("prod_j2", "Summit Waterproof Hiking Jacket Pro", "273.99 EUR")


def test_the_annotated_search_output_says_nothing_matches_and_names_the_cheapest_alternative() -> None:
    output = {
        "query": "waterproof jacket",
        "filters": {"currency": "EUR", "max_price": 150},
        "products": [],
        "nothing_matches": True,
        "alternatives": [
            JACKET | {"match": "strong", "outside_filters": ["max_price"]},
            JACKET_PRO | {"match": "strong", "outside_filters": ["max_price"]},
        ],
        "note": "No product matches ...",
    }
    answer = after(
        "Do you have a waterproof jacket under 150 EUR?",
        ("search_products", {"query": "waterproof jacket", "currency": "EUR", "max_price": 150}, output),
    )
    assert answer.tool_calls == ()
    assert answer.text.startswith('No, we have nothing that matches "waterproof jacket" at or under 150 EUR.')
    assert "The cheapest is Tidal Waterproof Hiking Jacket (prod_j1) at 188.99 EUR." in answer.text


def test_the_plain_search_output_is_checked_word_by_word_and_widened_once() -> None:
    args = {"query": "waterproof jacket", "currency": "EUR", "max_price": 150}
    near = {"query": "waterproof jacket", "products": [card("prod_s", "Portable Speaker", "88.99 EUR")]}
    first = after("Do you have a waterproof jacket under 150 EUR?", ("search_products", args, near))
    assert [(n, json.loads(a)) for n, a in first.tool_calls] == [
        ("search_products", {"query": "waterproof jacket", "currency": "EUR", "limit": 10})
    ]
    wider = {"query": "waterproof jacket", "products": [JACKET_PRO, JACKET]}
    final = after(
        "Do you have a waterproof jacket under 150 EUR?",
        ("search_products", args, near),
        ("search_products", {"query": "waterproof jacket", "currency": "EUR", "limit": 10}, wider),
    )
    assert (
        "nothing that matches" in final.text and "Tidal Waterproof Hiking Jacket (prod_j1) at 188.99 EUR" in final.text
    )
    assert "Portable Speaker" not in final.text


def test_matching_products_are_listed_and_the_cheapest_picked() -> None:
    output = {
        "query": "tents",
        "products": [card("prod_b", "Tent B", "404.99 EUR"), card("prod_a", "Tent A", "278.99 EUR")],
    }
    listed = after("What tents do you have?", ("search_products", {"query": "tents"}, output))
    assert "Tent A (prod_a): 278.99 EUR" in listed.text and "Tent B (prod_b): 404.99 EUR" in listed.text
    cheapest = after("what's the cheapest tent?", ("search_products", {"query": "tent", "limit": 10}, output))
    assert cheapest.text.startswith('The cheapest match for "tents" is Tent A (prod_a) at 278.99 EUR.')


@pytest.mark.parametrize(
    ("user", "tool", "error", "expected"),
    [
        (
            "What are the most popular products sold?",
            "shop_insights",
            "Error: Not allowed: other customers' records and shop-wide figures cannot be shown to this visitor. "
            "The visitor is not signed in, so only the product catalog is available.",
            "only available to the shop's staff",
        ),
        (
            "Who are our top customers?",
            "shop_insights",
            "Error: Not allowed: other customers' records and shop-wide figures cannot be shown to this visitor. "
            "Signed-in customers can see only their own record and orders.",
            "only available to the shop's staff",
        ),
        (
            "Where is my last order?",
            "customer_orders",
            "Error: Not allowed: customer records cannot be shown to this visitor. The visitor is not signed in, "
            "so only the product catalog is available.",
            "Please sign in",
        ),
        (
            "is there a customer named Greta?",
            "find_customer",
            "Error: Not allowed: a signed-in customer can only see their own customer record and orders.",
            "only show your own",
        ),
        (
            "tell me about prod_x",
            "get_product",
            "Error: there is no product with id prod_x",
            "couldn't find that product",
        ),
        (
            "what tents?",
            "search_products",
            "Error: search_products failed unexpectedly; tell the visitor it is unavailable.",
            "Sorry",
        ),
    ],
)
def test_refusals_and_errors_are_passed_on_kindly(user: str, tool: str, error: str, expected: str) -> None:
    answer = after(user, (tool, {}, error))
    assert expected in answer.text and "Error" not in answer.text and "visitor" not in answer.text


def test_leads_and_handoffs_confirm_what_happened() -> None:
    saved = {
        "status": "saved",
        "lead_id": 7,
        "message": "Saved; the team has been sent the details and will reply by email to a@b.co.",
    }
    answer = after("contact me at a@b.co", ("capture_lead", {"name": "A", "email": "a@b.co"}, saved))
    assert (
        answer.text
        == "Thank you, your details are saved; the team has been sent the details and will reply by email to a@b.co."
    )
    old = after("contact me at a@b.co", ("sendEmail", {}, json.dumps("Saved; the team will reply to a@b.co.")))
    assert old.text == "Thank you, your details are saved; the team will reply to a@b.co."
    handoff = {
        "status": "requested",
        "team_notified": True,
        "tell_the_visitor": "I've asked a member of our team to take over.",
        "next_step": "Ask for the visitor's name and email address, then save them with capture_lead.",
    }
    text = after("Can I talk to a person?", ("escalate_to_human", {"reason": "asked"}, handoff)).text
    assert text.startswith("I've asked a member of our team to take over.") and "email address" in text
    # asked again (or already raised by the turn itself, whose note the widget shows): no second copy of the note
    again = after(
        "Can I talk to a person?", ("escalate_to_human", {"reason": "asked"}, handoff | {"status": "already_requested"})
    )
    assert handoff["tell_the_visitor"] not in again.text and "team has your request" in again.text
    assert "email address" in again.text


def test_insights_are_written_from_their_figures() -> None:
    frame = {"period": "2026-03-01 .. 2026-03-31 (inclusive, UTC)", "orders_are": "paid invoices"}
    best = frame | {
        "ranked_by": "units",
        "products": [{"id": "prod_1", "name": "Foam Roller", "units": 104, "orders": 97}],
    }
    text = after("best sellers in March", ("shop_insights", {"question": "best_sellers"}, best)).text
    assert "in March 2026" in text and "Foam Roller (prod_1): 104 units in 97 orders" in text
    revenue = frame | {"currency": "eur", "currencies_with_orders": ["eur", "usd"], "orders": 1, "customers": 1,
                       "revenue": "10.00 EUR", "average_order_value": "10.00 EUR",
                       "by_month": [{"month": "2026-03", "orders": 1, "revenue": "10.00 EUR"}]}  # fmt: skip
    text = after("revenue by month", ("shop_insights", {"question": "revenue"}, revenue)).text
    assert "10.00 EUR from 1 paid order by 1 customer" in text and "2026-03: 10.00 EUR from 1 order" in text
    assert "orders in USD are counted separately" in text
    repeat = frame | {
        "customers_with_orders": 10,
        "customers_with_two_or_more_orders": 4,
        "repeat_purchase_rate_percent": 40.0,
    }
    assert "40.0%" in after("repeat rate", ("shop_insights", {}, repeat)).text
    none = {"period": "2026-11-01 .. 2026-11-30 (inclusive, UTC)", "ranked_by": "units", "products": []}
    assert "no paid orders" in after("best sellers last month", ("shop_insights", {}, none)).text


def test_orders_are_filtered_to_the_period_asked() -> None:
    orders = {
        "customer_ids": ["cus_1"], "orders_total": 12, "more": True, "newest_first": True,
        "orders": [
            {"invoice_id": "in_2", "number": "D-2", "date": "2026-04-02", "status": "paid", "total": "5.00 EUR",
             "items": [{"product_id": "prod_b", "name": "Mug", "quantity": 1, "amount": "5.00 EUR"}]},
            {"invoice_id": "in_1", "number": "D-1", "date": "2026-03-09", "status": "paid", "total": "9.00 EUR",
             "items": [{"product_id": "prod_a", "name": "Kettle", "quantity": 1, "amount": "9.00 EUR"}]},
        ],
    }  # fmt: skip
    march = after("What did I buy in March?", ("customer_orders", {"limit": 50}, orders)).text
    assert "Kettle" in march and "Mug" not in march
    may = after("What did I buy in May?", ("customer_orders", {"limit": 50}, orders)).text
    assert "None of your most recent orders (back to 2026-03-09) is in May 2026" in may
    last = after("Where is my last order?", ("customer_orders", {}, orders)).text
    assert last.startswith("Your last order is D-2 on 2026-04-02 (paid, total 5.00 EUR)")


def test_any_other_tool_is_rendered_readably_without_json() -> None:
    answer = after(
        "what's the weather in Rome",
        ("weather", {"city": "Rome"}, {"city": "Rome", "forecast": [{"day": "Mon", "sky": "sunny"}], "ok": True}),
    )
    assert "Rome" in answer.text and "sunny" in answer.text and "{" not in answer.text and "[" not in answer.text


ODD_TOOLS = [
    *TOOLS,
    ToolSpec("no_schema"),
    ToolSpec("odd", "Does odd things.", {"type": "object", "properties": {"x": None, "y": {"enum": None}}}),
]


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [Message("tool", "orphan output", name="search_products")],
        [Message("user", "x" * 5000)],
        [Message("user", "Ünïcödé ✓ 😀 — «quotes» {json: true} [[not a directive")],
        [
            Message("user", "tents?"),
            Message("assistant", "not json", name="search_products"),
            Message("tool", "not json either", name="search_products"),
        ],
        [
            Message("user", "hi"),
            Message("assistant", "{}", name="odd"),
            Message("tool", '[1, 2, {"a": [3]}]', name="odd"),
        ],
        [Message("user", "what about April?")],
        [Message("user", "and the cheapest one?")],
        [Message("user", "tell me more about the second one")],
        [Message("user", "   ")],
    ],
)
def test_odd_input_still_gets_an_answer(messages: list[Message]) -> None:
    answer = respond(messages, ODD_TOOLS, now=NOW)
    assert answer.tool_calls or answer.text
    assert "{" not in answer.text and "[[" not in answer.text
    for name, arguments in answer.tool_calls:
        assert name in {t.name for t in ODD_TOOLS} and isinstance(json.loads(arguments), dict)


def test_is_it_questions_about_a_shown_product_are_answered_from_its_description() -> None:
    tents = {
        "query": "tents",
        "products": [card("prod_t", "Two-Person Tent", "278.99 EUR", description="Tent for two.")],
    }
    earlier = [
        Message("user", "What tents do you have?"),
        Message("assistant", '{"query": "tents"}', name="search_products"),
        Message("tool", json.dumps(tents), name="search_products"),
        Message("assistant", "Here is what we have ..."),
    ]
    call = respond([*earlier, Message("user", "is it waterproof?")], TOOLS, now=NOW)
    assert [(n, json.loads(a)) for n, a in call.tool_calls] == [("get_product", {"product_id": "prod_t"})]
    full = card("prod_t", "Two-Person Tent", "278.99 EUR", description="Freestanding tent for two.")
    answer = respond(
        [
            *earlier,
            Message("user", "is it waterproof?"),
            Message("assistant", '{"product_id": "prod_t"}', name="get_product"),
            Message("tool", json.dumps(full), name="get_product"),
        ],
        TOOLS,
        now=NOW,
    )
    assert answer.text.startswith("Its description doesn't mention \"waterproof\", so I can't confirm that.")
    assert "Freestanding tent for two." in answer.text


def test_word_forms_match_the_catalogue() -> None:
    output = {"query": "backpack commuting", "products": [card("prod_c", "Commuter Backpack", "118.99 EUR")]}
    answer = after("best backpack for commuting", ("search_products", {"query": "backpack commuting"}, output))
    assert "Commuter Backpack (prod_c): 118.99 EUR" in answer.text


def test_parallel_searches_are_answered_each_on_its_own() -> None:
    tents = {"query": "tent", "products": [card("prod_t", "Two-Person Tent", "278.99 EUR")]}
    bags = {"query": "sleeping bag", "products": [card("prod_b", "Down Sleeping Bag", "228.99 EUR")]}
    answer = after(
        "I want to buy a tent and a sleeping bag",
        ("search_products", {"query": "tent"}, tents),
        ("search_products", {"query": "sleeping bag"}, bags),
    )
    assert answer.tool_calls == ()
    assert 'for "tent"' in answer.text and "Two-Person Tent (prod_t): 278.99 EUR" in answer.text
    assert 'for "sleeping bag"' in answer.text and "Down Sleeping Bag (prod_b): 228.99 EUR" in answer.text
