"""The grounding suite: questions in the words people use, through the real service (both the
``responses`` and the ``chat`` engine) with the offline model, against the demo shop. Each reply
must contain the facts SQL gives (names, amounts, ids, counts), or the refusal the policy requires,
and never JSON or directive text.

Run: .venv/bin/python -m pytest tests/integration/grounding -q
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from proxy.store.db import Database
from tests.integration.grounding.conftest import TENANT, Service, Visitor, converse
from tests.integration.grounding.facts import Facts, Product, load_facts, money
from tests.integration.grounding.list_facts import ends, load_list_facts

pytestmark = pytest.mark.integration

Expected = Sequence[str | tuple[str, ...]]  # every item must be in the reply; a tuple: any one of it


@dataclass(frozen=True)
class Case:
    id: str
    who: str  # anonymous | customer | staff
    messages: tuple[str, ...]
    expect: Callable[[Facts], Expected]


def cheapest(products: list[Product], currency: str = "eur") -> Product:
    priced = [p for p in products if getattr(p, currency) is not None]
    return min(priced, key=lambda p: (getattr(p, currency), p.id))


def price(product: Product, currency: str = "eur") -> str:
    amount = getattr(product, currency)
    assert amount is not None
    return money(amount, currency)


def none_under(products: list[Product], limit: Decimal, currency: str) -> bool:
    return all(getattr(p, currency) is None or Decimal(getattr(p, currency)) / 100 > limit for p in products)


def nothing_under(key: str, limit: int, currency: str) -> Callable[[Facts], Expected]:
    """No product with all the words at or under the bound: say so, and name the cheapest one above it."""

    def expect(f: Facts) -> Expected:
        products = f.products[key]
        assert products and none_under(products, Decimal(limit), currency), "the demo shop changed"
        best = cheapest(products, currency)
        return [("nothing", "No,"), best.name, price(best, currency)]

    return expect


def in_month(f: Facts, month: str) -> list[dict[str, Any]]:
    found = [o for o in f.customer_orders if o["month"] == month]
    assert month != "2026-03" or found, "the demo shop changed: the customer has an order in March"
    return found


def paid_sum(orders: list[dict[str, Any]]) -> str:
    paid = [o for o in orders if o["paid"]]
    assert paid, "the demo shop changed: the customer paid in March"
    return money(sum(o["total"] for o in paid), paid[0]["currency"])


def all_names(key: str) -> Callable[[Facts], Expected]:
    def expect(f: Facts) -> Expected:
        products = f.products[key]
        assert 0 < len(products) <= 5
        return [p.name for p in products]

    return expect


def shop_end(end: str) -> Callable[[Facts], Expected]:
    """The shop's cheapest (or dearest) product, whichever of those at that price comes first, at it."""

    def expect(f: Facts) -> Expected:
        products, amount = f.shop_ends[end]
        which = "most expensive" if end == "dearest" else "cheapest"
        return [f"The {which} product in our shop is", tuple(f"{p.name} ({p.id}) at " for p in products), amount]

    return expect


def least_of_all(f: Facts, march: bool = False) -> Expected:
    """The customers who spent the least of all with paid orders in the main currency (in March 2026):
    the one, or how many tie and the amount; never the list from the least up."""
    low = f.least_spenders_march if march else f.least_spenders
    assert low, "the demo shop changed: customers with paid orders"
    scope = f"of all {low[0]['ranked']} customers with paid orders in {f.currency.upper()}"
    when = " in March 2026" if march else ""
    if len(low) == 1:
        return [f"{low[0]['name']} (", f"spent the least{when} ({scope})", low[0]["spent_text"]]
    return [f"{len(low)} customers tie for the least spent{when}", low[0]["spent_text"], scope, low[0]["name"]]


def same_in(key: str, currency: str, limit: str) -> Callable[[Facts], Expected]:
    """ "in dollars?" after none under a limit in euros: the same products in dollars, the limit kept."""

    def expect(f: Facts) -> Expected:
        best = cheapest(f.products[key], currency)
        return [f"In {currency.upper()}, those products cost", best.name, price(best, currency),
                f"at or under {limit}: our {currency.upper()} prices are set on their own"]  # fmt: skip

    return expect


STAFF_ONLY = ("only available to the shop's staff",)
SIGN_IN = ("sign in",)
OWN_ONLY = ("only show your own",)
CAPABILITIES = ("I can",)

CASES = [
    # -- the catalogue: "do you have", prices, typos, follow-ups (anonymous visitors) ----------------
    Case("jacket-under-150-eur", "anonymous", ("Do you have a waterproof jacket under 150 EUR?",),
         nothing_under("waterproof jacket", 150, "eur")),
    Case("jacket-lowercase", "anonymous", ("waterproof jacket under 150 eur?",),
         nothing_under("waterproof jacket", 150, "eur")),
    Case("jacket-typos", "anonymous", ("got any waterprof jackets for less than 150 euros",),
         nothing_under("waterproof jacket", 150, "eur")),
    Case("jacket-euro-sign", "anonymous", ("is there a waterproof jacket for €150 or less?",),
         nothing_under("waterproof jacket", 150, "eur")),
    Case("headphones-under-100-usd", "anonymous", ("Wireless headphones under $100?",),
         nothing_under("wireless headphones", 100, "usd")),
    Case("headphones-dollars", "anonymous", ("any wireless headphones below 100 dollars?",),
         nothing_under("wireless headphones", 100, "usd")),
    Case("headphones-words", "anonymous", ("wireless headphones for less than a hundred bucks",),
         nothing_under("wireless headphones", 100, "usd")),
    Case("tents", "anonymous", ("What tents do you have?",), all_names("tents")),
    Case("tents-casual", "anonymous", ("do u sell tents",), all_names("tents")),
    Case("tents-bare", "anonymous", ("tents?",), all_names("tents")),
    Case("tents-looking", "anonymous", ("I'm looking for a tent",), all_names("tents")),
    Case("cheapest-tent", "anonymous", ("What's the cheapest tent?",),
         lambda f: [cheapest(f.products["tents"]).name, price(cheapest(f.products["tents"]))]),
    Case("tents-then-cheapest", "anonymous", ("What tents do you have?", "and the cheapest one?"),
         lambda f: [cheapest(f.products["tents"]).name, price(cheapest(f.products["tents"]))]),
    Case("tents-then-details", "anonymous", ("What tents do you have?", "tell me more about the first one"),
         lambda f: [tuple(p.name for p in f.products["tents"]), tuple(price(p) for p in f.products["tents"])]),
    Case("tents-then-is-it", "anonymous", ("What tents do you have?", "is it waterproof?"),
         lambda f: [tuple(p.name for p in f.products["tents"]),
                    "mentions" if f.products["waterproof tent"] else "doesn't mention"]),
    Case("commuter-backpack", "anonymous", ("best backpack for commuting",), all_names("commuter backpack")),
    Case("espresso-price", "anonymous", ("how much is the espresso machine?",),
         lambda f: [cheapest(f.products["espresso machine"]).name, price(cheapest(f.products["espresso machine"]))]),
    Case("yoga-mat-under-60", "anonymous", ("Do you have a yoga mat under 60 euros?",),
         lambda f: ["Yes", *[x for p in f.products["yoga mat"] if (p.eur or 0) <= 6000 for x in (p.name, price(p))]]),
    Case("backpack-range", "anonymous", ("hiking backpack between 50 and 80 euros",),
         nothing_under("hiking backpack", 80, "eur")),
    Case("camping-stove", "anonymous", ("camping stove",), all_names("camping stove")),
    Case("tent-and-sleeping-bag", "anonymous", ("I want to buy a tent and a sleeping bag",),
         lambda f: [*(p.name for p in f.products["tents"]), *(p.name for p in f.products["sleeping bag"])]),
    Case("compare-tents", "anonymous", ("compare the two tents",),
         lambda f: [x for p in f.products["tents"] for x in (p.name, price(p))]),
    Case("order-yoga-mats", "anonymous", ("I'd like to order 3 yoga mats",), all_names("yoga mat")),
    Case("cheapest-anything", "anonymous", ("cheapest thing you have",), shop_end("cheapest")),
    Case("shipping-then-cheapest", "anonymous", ("do you ship to Canada?", "and the cheapest one?"),
         shop_end("cheapest")),
    Case("shipping-then-dearest", "anonymous", ("do you ship to Canada?", "and the most expensive one?"),
         shop_end("dearest")),
    Case("return-policy", "anonymous", ("what's your return policy?",), lambda f: ["returns and refunds", "team"]),
    Case("product-by-id", "anonymous", ("tell me about {product_id}",),
         lambda f: [f.product_one["name"], f.product_one["eur_text"], f.product_one["id"]]),
    # -- a signed-in customer's orders and periods -------------------------------------------------
    Case("last-order", "customer", ("Where is my last order?",),
         lambda f: [f.customer["newest_number"], f.customer["newest_date"]]),
    Case("bought-in-march", "customer", ("What did I buy in March?",), lambda f: f.customer["march_products"]),
    Case("bought-in-march-typos", "customer", ("wat did i order in march??",), lambda f: f.customer["march_products"]),
    Case("my-orders", "customer", ("show me my orders",), lambda f: [f.customer["newest_number"]]),
    Case("ever-bought", "customer", ("have I ever bought a {bought_kind}?",),
         lambda f: ["Yes", f.customer["bought"]]),
    Case("my-account", "customer", ("what are my account details?",),
         lambda f: [f.customer["name"], f.customer["email"]]),
    Case("ordered-last-time", "customer", ("what did I order last time?",),
         lambda f: [f.customer["newest_number"], f.customer["newest_date"]]),
    Case("last-order-then-contents", "customer", ("Where is my last order?", "what's in it?"),
         lambda f: [f.customer["newest_number"], f.customer["bought"]]),
    Case("last-order-then-total", "customer", ("Where is my last order?", "how much in total?"),
         lambda f: [f"{f.customer_orders[0]['number']}, comes to {f.customer_orders[0]['total_text']}",
                    f"come to {paid_sum(f.customer_orders)} in all"]),
    Case("my-orders-then-total", "customer", ("show me my orders", "how much in total?"),
         lambda f: [f"Your paid orders come to {paid_sum(f.customer_orders)} in all"]),
    Case("email-on-file", "customer", ("what's my email on file?",), lambda f: [f.customer["email"]]),
    Case("cancel-order", "customer", ("cancel my order",), lambda f: ["can't change or cancel orders"]),
    Case("last-order-then-thanks", "customer", ("Where is my last order?", "thanks!"), lambda f: ["welcome"]),
    Case("customer-asks-best-sellers", "customer", ("What are the most popular products sold?",),
         lambda f: [STAFF_ONLY]),
    Case("customer-asks-top-customers", "customer", ("Who are our top customers?",), lambda f: [STAFF_ONLY]),
    Case("customer-asks-other-customer", "customer", ("is there a customer named Greta?",), lambda f: [OWN_ONLY]),
    # -- questions a visitor may not ask -----------------------------------------------------------
    Case("anonymous-best-sellers", "anonymous", ("What are the most popular products sold?",), lambda f: [STAFF_ONLY]),
    Case("anonymous-revenue", "anonymous", ("What was the revenue in March?",), lambda f: [STAFF_ONLY]),
    Case("anonymous-last-order", "anonymous", ("Where is my last order?",), lambda f: [SIGN_IN]),
    Case("anonymous-customer", "anonymous", ("is there a customer named Justin?",),
         lambda f: [("customers' details", "customer details")]),
    Case("anonymous-cheapest-purchase", "anonymous", ("who made the cheapest purchase?",), lambda f: [STAFF_ONLY]),
    # -- staff: every insight, the tutorial's questions, customers -----------------------------------
    Case("popular", "staff", ("What are the most popular products sold?",),
         lambda f: [f.best_units[0], str(f.best_units[1])]),
    Case("popular-typos", "staff", ("wat are ur best sellers",), lambda f: [f.best_units[0], str(f.best_units[1])]),
    Case("top-3-units", "staff", ("top 3 products by units sold",), lambda f: [f.best_units[0]]),
    Case("best-by-revenue", "staff", ("best sellers by revenue",), lambda f: [f.best_revenue[0], f.best_revenue[1]]),
    Case("most-money", "staff", ("which product made the most money?",),
         lambda f: [f.best_revenue[0], f.best_revenue[1]]),
    Case("best-then-by-revenue", "staff", ("best sellers", "and by revenue?"),
         lambda f: [f.best_revenue[0], f.best_revenue[1]]),
    Case("orders-in-march", "staff", ("How many orders did we have in March?",),
         lambda f: [f"{f.revenue_march[1]} paid orders"]),
    Case("revenue-march-then-usd", "staff", ("What was the revenue in March?", "and in USD?"),
         lambda f: [f.revenue_march_usd]),
    Case("revenue-march-then-count", "staff", ("What was the revenue in March?", "how many orders was that?"),
         lambda f: [f"{f.revenue_march[1]} paid orders in March 2026, {f.revenue_march[0]}."]),
    Case("revenue-march-usd-then-count", "staff", ("Revenue in March", "and in USD?", "how many orders was that?"),
         lambda f: [f"{f.revenue_march_usd_orders} paid orders in March 2026, {f.revenue_march_usd}."]),
    Case("how-many-customers", "staff", ("how many customers do we have?",),
         lambda f: [f"{f.buyers} customers placed paid orders"]),
    Case("best-in-march", "staff", ("What were the best sellers in March?",),
         lambda f: [f.best_units_march[0], str(f.best_units_march[1])]),
    Case("cheapest-purchase-demo", "staff", ("Who made the cheapest purchase, and what did they buy?",),
         lambda f: [f.cheapest["total_text"], f.cheapest["name"], f.cheapest["number"], *f.cheapest["products"],
                    str(f.cheapest["same"])]),
    Case("cheapest-purchase-tutorial", "staff", ("who made the cheapest purchase? how much, what?",),
         lambda f: [f.cheapest["total_text"], f.cheapest["name"], *f.cheapest["products"]]),
    Case("smallest-order", "staff", ("smallest order ever?",),
         lambda f: [f.cheapest["total_text"], f.cheapest["number"]]),
    Case("largest-purchase", "staff", ("what was the largest purchase?",),
         lambda f: [f.largest["total_text"], f.largest["name"]]),
    Case("biggest-order", "staff", ("biggest order",), lambda f: [f.largest["total_text"], f.largest["number"]]),
    Case("largest-then-cheapest", "staff", ("Who made the largest purchase?", "and the cheapest?"),
         lambda f: [f.cheapest["total_text"], f.cheapest["name"]]),
    Case("bought-together-demo", "staff", ("Which products are bought together?",),
         lambda f: [f.top_pair[0], f.top_pair[1], str(f.top_pair[2])]),
    Case("bought-together-casual", "staff", ("what do people often buy together",),
         lambda f: [f.top_pair[0], f.top_pair[1]]),
    Case("bought-with-tent", "staff", ("what is bought together with the two-person tent?",),
         lambda f: [tuple(f.companions["tent"]), tuple(f.companions["tent"].values())]),
    Case("bought-with-yoga-mats", "staff", ("what do people buy with yoga mats",),
         lambda f: [tuple(f.companions["yoga mat"]), tuple(f.companions["yoga mat"].values())]),
    Case("orders-of-lowercase-name", "staff", ("what orders did {unique_lower} place",),
         lambda f: [f.unique_customer["name"], f.unique_customer["newest"]]),
    Case("sales-last-month", "staff", ("how did sales go last month",),
         lambda f: ["no paid orders"] if f.revenue_november == 0 else [str(f.revenue_november)]),
    Case("second-product", "staff", ("what is the most common second product?",), lambda f: [f.second_product[0]]),
    Case("revenue-march-demo", "staff", ("What was the revenue in March?",),
         lambda f: [f.revenue_march[0], str(f.revenue_march[1])]),
    Case("revenue-march-2026", "staff", ("revenue in march 2026",), lambda f: [f.revenue_march[0]]),
    Case("revenue-typo", "staff", ("whats the revenu for march",), lambda f: [f.revenue_march[0]]),
    Case("revenue-then-april", "staff", ("What was the revenue in March?", "what about April?"),
         lambda f: [f.revenue_april[0], str(f.revenue_april[1])]),
    Case("revenue-all", "staff", ("how much did we make in total?",), lambda f: [f.revenue_all[0]]),
    Case("repeat-rate", "staff", ("what's the repeat purchase rate?",), lambda f: [f.repeat_rate]),
    Case("repeat-casual", "staff", ("how many customers come back to buy again?",), lambda f: [f.repeat_rate]),
    Case("top-customers-demo", "staff", ("Who are our top customers?",),
         lambda f: [f.top_customer["name"], f.top_customer["spent_text"]]),
    Case("who-spent-most", "staff", ("who spent the most?",), lambda f: [f.top_customer["name"]]),
    Case("customer-justin", "staff", ("is there a customer named Justin?",),
         lambda f: [f.customers_named["justin"][0] if f.customers_named["justin"] else "no customer named Justin"]),
    Case("customer-justin-tutorial", "staff", ("Is there a customer named Justin? If so, show me his information.",),
         lambda f: [f.customers_named["justin"][0] if f.customers_named["justin"] else "no customer named Justin"]),
    Case("customer-then-orders", "staff", ("is there a customer named {unique}? if so, show me their orders",),
         lambda f: [f.unique_customer["name"], f.unique_customer["newest"]]),
    Case("customer-greta", "staff", ("is there a customer named Greta?",), lambda f: [f.customers_named["greta"][0]]),
    Case("customer-by-email", "staff", ("look up the customer {top_email}",),
         lambda f: [f.top_customer["name"], f"{f.top_customer['paid_orders']} paid orders"]),
    # -- follow-ups about the list just shown ---------------------------------------------------------
    Case("jacket-then-cheapest", "anonymous",
         ("Do you have a waterproof jacket under 150 EUR?", "and the cheapest one?"),
         lambda f: [*nothing_under("waterproof jacket", 150, "eur")(f)[1:], "Nothing that matches"]),
    Case("march-then-cheapest", "customer", ("What did I buy in March?", "and the cheapest one?"),
         lambda f: [*ends(in_month(f, "2026-03"), cheapest=True), "cheapest"]),
    Case("march-then-dearest", "customer", ("What did I buy in March?", "and the cheapest one?", "the most expensive?"),
         lambda f: [*ends(in_month(f, "2026-03"), cheapest=False), "most expensive"]),
    Case("march-then-total", "customer", ("What did I buy in March?", "how much in total?"),
         lambda f: [paid_sum(in_month(f, "2026-03"))]),
    Case("march-then-april", "customer", ("What did I buy in March?", "how much in total?", "and in April?"),
         lambda f: [o["number"] for o in in_month(f, "2026-04")] or ["no orders in April 2026"]),
    Case("last-order-then-cheapest", "customer", ("Where is my last order?", "and the cheapest one?"),
         lambda f: [ends(f.customer_orders, cheapest=True)[0], f"of your orders ({len(f.customer_orders)})"]),
    Case("my-orders-then-how-many", "customer", ("show me my orders", "how many orders was that?"),
         lambda f: [f"You have {len(f.customer_orders)} orders"]),
    Case("top-customers-then-cheapest", "staff", ("Who are our top customers?", "and the cheapest one?"),
         lambda f: [f.top_shown[-1]["name"], f.top_shown[-1]["spent_text"], "spent the least"]),
    Case("top-customers-then-least", "staff", ("Who are our top customers?", "who spent the least?"),
         lambda f: least_of_all(f)),
    Case("top-customers-then-least-of-them", "staff", ("Who are our top customers?", "who of them spent the least?"),
         lambda f: [f.top_shown[-1]["name"], f.top_shown[-1]["spent_text"], "spent the least"]),
    Case("least-spender-overall", "staff", ("which customer spent the least overall?",), lambda f: least_of_all(f)),
    Case("bottom-customers", "staff", ("bottom customers",),
         lambda f: [f.least_spenders[0]["name"], f.least_spenders[0]["spent_text"], "spent the least"]),
    Case("least-spender-then-march", "staff", ("who spent the least overall?", "and in March?"),
         lambda f: least_of_all(f, march=True)),
    Case("least-spender-then-about-her", "staff", ("which customer spent the least overall?", "tell me more about her"),
         lambda f: ["customer record of", f.least_spenders[0]["name"], f.least_spenders[0]["email"]]),
    Case("best-march-then-by-revenue", "staff", ("What were the best sellers in March?", "by revenue?"),
         lambda f: ["by revenue in March 2026", f.best_revenue_march[0], f.best_revenue_march[1]]),
    Case("jacket-then-in-dollars", "anonymous", ("Do you have a waterproof jacket under 150 EUR?", "in dollars?"),
         same_in("waterproof jacket", "usd", "150 EUR")),
    Case("jacket-in-dollars-then-dearest", "anonymous",
         ("Do you have a waterproof jacket under 150 EUR?", "in dollars?", "the most expensive?"),
         lambda f: ["most expensive of those", max(f.products["waterproof jacket"], key=lambda p: p.usd or 0).name,
                    price(max(f.products["waterproof jacket"], key=lambda p: p.usd or 0), "usd")]),
    Case("headphones-then-in-euros", "anonymous", ("Wireless headphones under $100?", "in euros?"),
         same_in("wireless headphones", "eur", "100 USD")),
    Case("top-usd-then-in-dollars", "staff", ("Who are our top customers in USD?", "in dollars?"),
         lambda f: ["already in USD"]),
    Case("headphones-then-in-dollars", "anonymous", ("Wireless headphones under $100?", "in dollars?"),
         lambda f: ["already in USD"]),
    Case("cheapest-purchase-then-largest", "staff",
         ("Who made the cheapest purchase, and what did they buy?", "and the largest?"),
         lambda f: [f.largest["total_text"], f.largest["name"], "largest purchase"]),
    Case("last-order-then-in-dollars", "customer", ("Where is my last order?", "in dollars?"),
         lambda f: ["already in USD"] if f.customer_orders[0]["currency"] == "usd"
         else [f"charged in {f.customer_orders[0]['currency'].upper()}"]),
    Case("under-20-then-dearest", "anonymous",
         ("Wireless headphones under $100?", "show me something under 20", "the most expensive?"),
         lambda f: ["most expensive product at or under 20 USD is", f.dearest_under_20_usd[0]["price_text"],
                    *(p["name"] for p in f.dearest_under_20_usd)]),
    Case("under-20-then-shop-dearest", "anonymous",
         ("Wireless headphones under $100?", "show me something under 20", "the most expensive in the shop?"),
         lambda f: ["most expensive product in our shop", tuple(p.name for p in f.shop_ends["dearest"][0])]),
    Case("top-customers-then-how-many", "staff", ("Who are our top customers?", "how many orders was that?"),
         lambda f: [f"placed {sum(c['orders'] for c in f.top_shown)} orders between them"]),
    Case("top-customers-then-last-month", "staff", ("Who are our top customers?", "and last month?"),
         lambda f: ["No customer placed a paid order"] if f.revenue_november == 0 else [f.top_shown[0]["name"]]),
    Case("best-sellers-then-cheapest", "staff", ("What are the most popular products sold?", "and the cheapest one?"),
         lambda f: ["can't pick the cheapest"]),
    Case("revenue-march-then-cheapest", "staff", ("What was the revenue in March?", "and the cheapest one?"),
         lambda f: [f.cheapest_march["number"], f.cheapest_march["total_text"]]),
    # -- leads, handoffs, small talk, nonsense -----------------------------------------------------
    Case("lead-with-email", "anonymous",
         ("Please contact me at robin.{engine}@example.com, I'm Robin Lead. We need 20 tents for our club.",),
         lambda f: ["saved", "robin.{engine}@example.com"]),
    Case("lead-in-two-steps", "anonymous",
         ("I'd like a quote for 12 sleeping bags",
          "sure, my name is Sam Quote and my email is sam.{engine}@example.org"),
         lambda f: ["saved", "sam.{engine}@example.org"]),
    Case("handoff-demo", "anonymous", ("Can I talk to a person?",), lambda f: [("team", "colleague")]),
    Case("handoff-human", "anonymous", ("i want to speak to a real human",), lambda f: [("team", "colleague")]),
    Case("handoff-then-email", "anonymous", ("Can I talk to a person?", "sure, it's kim.{engine}@example.com"),
         lambda f: ["saved", "kim.{engine}@example.com"]),
    Case("lead-name-and-email-after-handoff", "anonymous",
         ("Can I talk to a person?", "my name is Tom Test, tom.{engine}@example.com"),
         lambda f: ["saved", "tom.{engine}@example.com"]),
    Case("are-you-a-person", "anonymous", ("are you a real person?",), lambda f: ["automated assistant"]),
    Case("ok", "anonymous", ("ok",), lambda f: ["Alright"]),
    Case("hello", "anonymous", ("hi",), lambda f: [CAPABILITIES]),
    Case("thanks", "anonymous", ("thanks!",), lambda f: ["welcome"]),
    Case("what-can-you-do", "anonymous", ("what can you do?",), lambda f: ["find products"]),
    Case("keyboard-mash", "anonymous", ("asdfghjkl",), lambda f: ["not sure", CAPABILITIES]),
    Case("nonsense-words", "anonymous", ("purple monkey dishwasher",), lambda f: ["couldn't find"]),
    Case("off-topic", "anonymous", ("what's the weather like in Paris?",),
         lambda f: ["can't help with that", CAPABILITIES]),
]  # fmt: skip


@pytest.fixture(scope="session")
async def facts(database: Database, demo_shop: str) -> Facts:
    found = await load_facts(database, demo_shop)
    await load_list_facts(database, demo_shop, found)
    return found


def _visitor(who: str, facts: Facts) -> Visitor:
    if who == "customer":
        return Visitor("identified", facts.customer["email"])
    if who == "staff":
        return Visitor("staff", "staff@shop.grounding.test")
    return Visitor("anonymous")


def _fill(text: str, facts: Facts, engine: str) -> str:
    return text.format(
        engine=engine,
        product_id=facts.product_one["id"],
        top_email=facts.top_customer["email"],
        unique_lower=facts.unique_customer["name"].lower(),
        unique=facts.unique_customer["name"],
        bought_kind=facts.customer["bought_kind"],
    )


def test_the_suite_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_grounded_reply(case: Case, service: Service, facts: Facts, database: Database) -> None:
    messages = [_fill(m, facts, service.engine) for m in case.messages]
    conversation = await converse(service, _visitor(case.who, facts), messages)
    for reply in conversation.replies:
        assert reply.strip(), "an empty reply"
        for bad in ("{", "[[", "returned:", "Echo:"):
            assert bad not in reply, f"{bad!r} in the reply: {reply}"
    reply = conversation.replies[-1]
    for item in case.expect(facts):
        options = item if isinstance(item, tuple) else (item,)
        options = tuple(_fill(o, facts, service.engine) for o in options)
        assert any(o.lower() in reply.lower() for o in options), f"expected {options} in:\n{reply}"
    if case.id.startswith("lead-") or case.id == "handoff-then-email":
        row = await database.fetch_one(
            "select email from leads where tenant = %s and thread_id = %s", (TENANT, conversation.thread_id)
        )
        assert row is not None and f".{service.engine}@example." in row["email"]
    if case.id in ("handoff-demo", "handoff-human"):
        row = await database.fetch_one(
            "select count(*) as n from handoffs where tenant = %s and thread_id = %s", (TENANT, conversation.thread_id)
        )
        assert row is not None and row["n"] == 1
