"""Follow-up messages: the previous question again with what this message changes ("what about
April?"), or a product picked from the last list shown ("tell me more about the second one")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from proxy.offline import arguments, price_edges
from proxy.offline.conversation import Call, Turn
from proxy.offline.plan import Plan
from proxy.offline.slots import Slots
from proxy.offline.types import ToolSpec

_DETAILS = re.compile(
    r"\b(?:more|details?|about|describe|specs?|info|information|tell me|what is it|how much is it|price of it)\b", re.I
)
ASKS_IF = re.compile(
    r"^\s*(?:is|does|can|will|has|are|do|would|could)\s+(?:it|this|that|they|these|those|the\s+\w+)\b", re.I
)
# Calls that do something rather than look something up: a follow-up never repeats them.
_NOT_REPEATED = frozenset({"get_product", "capture_lead", "sendEmail", "escalate_to_human"})
_PRODUCT_ID = re.compile(r"\bprod_\w+")
_CUSTOMER_ID = re.compile(r"\bcus_\w+")
_ABOUT_PERSON = re.compile(
    r"\b(?:about|on) (?:her|him|them)\b|\b(?:her|his) (?:details|info|information|record|account|email)\b"
    r"|\bwho is (?:she|he)\b",
    re.I,
)
_ANYTHING = re.compile(r"\b(?:something|anything|any\s+product|whatever)\b", re.I)
# Answers a pick ("the cheapest one?") or a tally ("how many orders was that?") cannot be read from:
# their follow-up says so and what can be asked instead (see replies.cannot).
_NO_PICK = frozenset({"best_sellers", "bought_together", "second_product", "repeat_purchase_rate"})
_NO_TALLY = _NO_PICK | {"cheapest_purchase", "largest_purchase"}


def _cannot(name: str, args: dict[str, Any], slots: Slots) -> str | None:
    """What a follow-up asks of the answer shown that the answer cannot give (``pick:best_sellers``)."""
    question = args.get("question")
    what = question if isinstance(question, str) else ""
    if name == "search_products" and slots.tally and not slots.pick:
        return "tally:search_products"
    if name != "shop_insights":
        return None
    if slots.tally and what in _NO_TALLY:
        return f"tally:{what}"
    if slots.pick and what in _NO_PICK:
        return f"pick:{what}"
    return None


def _products_of(turn: Turn) -> list[str]:
    """Product ids of the last product list shown in ``turn``, in order: as the reply names them
    (what the visitor saw: "the first one" is the first named), else from the tool outputs."""
    shown: list[str] = list(dict.fromkeys(_PRODUCT_ID.findall(turn.reply)))
    if shown:
        return shown
    found: list[str] = []
    for result in turn.results():
        data = result.data
        if not isinstance(data, dict):
            continue
        if isinstance(data.get("id"), str) and data["id"].startswith("prod_"):
            found = [data["id"]]
            continue
        items = data.get("products")
        if isinstance(items, list) and items:
            ids = [p["id"] for p in items if isinstance(p, dict) and isinstance(p.get("id"), str)]
            strong = [
                p["id"] for p in items if isinstance(p, dict) and p.get("match", "strong") == "strong" and "id" in p
            ]
            found = strong or ids
        elif isinstance(data.get("alternatives"), list) and data["alternatives"]:
            found = [p["id"] for p in data["alternatives"] if isinstance(p, dict) and isinstance(p.get("id"), str)]
    return found


_ORDERS = frozenset({"customer_orders", "find_customer"})
_COUNTS = frozenset({"bought_together", "second_product", "repeat_purchase_rate"})  # answers without amounts
_AMOUNT_CURRENCY = re.compile(r"\b\d[\d,]*(?:\.\d+)? ([A-Z]{3})\b")


def only_currency(slots: Slots) -> bool:
    """Whether the message changes nothing but the currency ("in dollars?", "and in USD?")."""
    prices = slots.prices
    return bool(
        prices.currency
        and prices.min_price is None
        and prices.max_price is None
        and not (slots.query or slots.period or slots.pick or slots.tally or slots.ordinal or slots.limit)
        and not (slots.by_month or slots.low_end or slots.question_weight >= 2.5)
    )


def _already_in(previous: Turn, base: Call, slots: Slots) -> str | None:
    """The currency a currency-only follow-up asks for when the answer before was already in it:
    the previous call's currency, else the one currency of the amounts in the previous reply."""
    if not only_currency(slots):
        return None
    by_units = base.arguments.get("question") == "best_sellers" and base.arguments.get("by") != "revenue"
    if by_units and slots.by_revenue:  # "in dollars?" after the best sellers by units: by revenue, in dollars
        return None
    asked = (slots.prices.currency or "").upper()
    given = base.arguments.get("currency")
    if isinstance(given, str) and given:
        return asked if given.upper() == asked else None
    shown = set(_AMOUNT_CURRENCY.findall(previous.reply))
    return asked if shown == {asked} else None


def has_lookup(turn: Turn, specs: Mapping[str, ToolSpec]) -> bool:
    """Whether ``turn`` called a tool a follow-up can call again with changes (not a product's
    details, a lead or a handoff)."""
    return any(c.name in specs and c.name not in _NOT_REPEATED for c in turn.calls)


def shown_currency(turn: Turn) -> str | None:
    """The currency of the first price shown in ``turn``: in its outputs, else in its reply."""
    for result in turn.results():
        data = result.data if isinstance(result.data, dict) else {}
        for card in [*(data.get("products") or []), *(data.get("alternatives") or [])]:
            prices = card.get("prices") if isinstance(card, dict) else None
            if isinstance(prices, list) and prices and (found := _AMOUNT_CURRENCY.search(str(prices[0]))):
                return found.group(1)
    found = _AMOUNT_CURRENCY.search(turn.reply)
    return found.group(1) if found else None


def _first_step(previous: Turn, base: Call) -> Call:
    """The first search of a turn that narrowed a price range step by step (its later searches are
    a device of :mod:`proxy.offline.price_edges`, not what the visitor asked)."""
    steps = [c for c in previous.calls if c.name == "search_products" and price_edges.is_step(c.arguments)]
    return steps[0] if len(steps) >= 2 and base in steps else base


MAX_SHOWN_AGAIN = 5  # products of the answer before shown again in another currency


def _in_other_currency(
    previous: Turn, search: dict[str, Any], slots: Slots, specs: Mapping[str, ToolSpec]
) -> Plan | None:
    """ "in dollars?" after a search for a kind of product within a limit in euros ("a jacket under
    150 EUR"): the products just shown, in dollars. The limit stays as given: prices are set per
    currency, and 150 EUR is not 150 USD. A budget for anything ("something under 20") is read again
    in the currency asked (:func:`edge_plan`)."""
    if search.get("query", arguments.GENERIC_QUERY) == arguments.GENERIC_QUERY:
        return None
    asked = slots.prices.currency
    given = search.get("currency")
    limit = arguments.without_shop_wide_bound(search)
    low, high = limit.get("min_price"), limit.get("max_price")
    if not (only_currency(slots) and asked and isinstance(given, str) and "get_product" in specs):
        return None
    if given.upper() == asked.upper() or (low is None and high is None):
        return None
    shown = _products_of(previous)[:MAX_SHOWN_AGAIN]
    if not shown:
        return None
    calls = tuple(Call("get_product", {"product_id": pid}) for pid in shown)
    return Plan(
        "calls", "get_product", slots, calls, followup=True, context=previous.user, unconverted=(low, high, given)
    )


def edge_plan(slots: Slots, earlier: dict[str, Any], currency: str | None, kept: str | None = None) -> Plan | None:
    """The dearest (or cheapest) product of any kind within the price bounds of the ``earlier``
    search, changed by this message ("the most expensive?" after "something under 20"); the whole
    shop's when the message says so ("the most expensive in the shop?")."""
    before = arguments.without_shop_wide_bound(earlier)
    pick = slots.pick or kept
    if not pick or slots.query or before.get("query", arguments.GENERIC_QUERY) != arguments.GENERIC_QUERY:
        return None
    bounded = arguments.apply_prices({k: v for k, v in before.items() if k != "limit"}, slots)
    currency = bounded.get("currency") or currency
    low, high = bounded.get("min_price"), bounded.get("max_price")
    if low is None and high is None:
        return None  # no range: the whole shop's end (arguments.shop_wide_arguments)
    asked_range = slots.prices.min_price is not None or slots.prices.max_price is not None
    whole = slots.whole_shop and not asked_range
    if whole or (pick == "priciest" and high is None) or (pick == "cheapest" and low is None):
        # the whole shop's dearest is within "over 100", its cheapest within "under 20"
        call = Call("search_products", arguments.shop_end_arguments(pick, currency, slots.limit))
        return Plan("calls", "search_products", replace(slots, pick=pick), (call,), shop_wide=True)
    first = price_edges.first_search(pick, bounded, currency)
    if first is None:
        return None
    return Plan("calls", "search_products", slots, (first,), edge=pick)


def product_from_history(previous: Turn | None, slots: Slots) -> str | None:
    if previous is None:
        return None
    ids = _products_of(previous)
    if not ids:
        return None
    if slots.ordinal is not None:
        index = slots.ordinal - 1 if slots.ordinal > 0 else len(ids) + slots.ordinal
        return ids[index] if 0 <= index < len(ids) else None
    if slots.refers_back:
        return ids[0]
    return None


def asks_about_person(text: str) -> bool:
    """Whether the message asks about a person named before ("tell me more about her")."""
    return _ABOUT_PERSON.search(text) is not None


def follow_up(previous: Turn, slots: Slots, specs: Mapping[str, ToolSpec]) -> Plan | None:
    """The previous question again, with what this message changes ("what about April?")."""
    named = _CUSTOMER_ID.findall(previous.reply)
    if "find_customer" in specs and named and asks_about_person(slots.text):  # the first customer the reply named
        call = Call("find_customer", {"customer_id": named[0]})
        return Plan("calls", "find_customer", slots, (call,), followup=True, context=previous.user)
    about_it = slots.refers_back and (_DETAILS.search(slots.text) or ASKS_IF.search(slots.text))
    if "get_product" in specs and (slots.ordinal is not None or about_it):
        picked = product_from_history(previous, slots)
        if picked:
            call = Call("get_product", {"product_id": picked})
            return Plan("calls", "get_product", slots, (call,), followup=True, context=previous.user)
    last = previous.calls[-1] if previous.calls else None
    if last is not None and last.name == "get_product" and last.name in specs and only_currency(slots):
        # "in dollars?" after one product's details: its price in dollars
        return Plan("calls", last.name, slots, (last,), followup=True, context=previous.user)
    base = next((c for c in reversed(previous.calls) if c.name in specs and c.name not in _NOT_REPEATED), None)
    if base is None:
        return None
    if (currency := _already_in(previous, base, slots)) is not None:  # "in dollars?" after a list in dollars
        return Plan("talk", f"already_in:{currency}", slots, followup=True, context=previous.user)
    if base.name == "shop_insights" and base.arguments.get("question") in _COUNTS and only_currency(slots):
        return Plan("talk", "no_money", slots, followup=True, context=previous.user)
    if base.name in _ORDERS and only_currency(slots):  # orders are in the currency they were charged in
        charged = sorted(set(_AMOUNT_CURRENCY.findall(previous.reply)))
        if charged:
            return Plan("talk", f"charged_in:{','.join(charged)}", slots, followup=True, context=previous.user)
    args: dict[str, Any] = dict(base.arguments)
    spec = specs[base.name]
    if base.name == "search_products":
        base = _first_step(previous, base)
        args = dict(base.arguments)
        if (moved := _in_other_currency(previous, args, slots, specs)) is not None:
            return moved
        kept = price_edges.pick_of(previous.calls)  # "and in euros?" after the dearest under 20: still the dearest
        if (edge := edge_plan(slots, args, shown_currency(previous), kept)) is not None:
            return replace(edge, followup=True, context=previous.user)
        shop_wide = arguments.shop_wide_arguments(slots, args)
        if shop_wide is not None:  # "and the cheapest one?" after "what do you have?"
            call = Call(base.name, shop_wide)
            return Plan("calls", base.name, slots, (call,), followup=True, context=previous.user, shop_wide=True)
        args = arguments.without_shop_wide_bound(args)  # "tents?" after the shop's cheapest: any price
        if slots.query:
            args["query"] = slots.query
        elif _ANYTHING.search(slots.text):  # "show me something under 20" after tents: any kind of product
            args["query"] = arguments.GENERIC_QUERY
        args = arguments.apply_prices(args, slots)
        if slots.pick:
            args["limit"] = max(int(args.get("limit") or 0), 10)
    elif base.name == "shop_insights":
        args = arguments.update_insight(args, slots, spec)
    elif base.name in ("find_customer", "customer_orders"):
        fresh = (
            arguments.customer_arguments(slots) if base.name == "find_customer" else arguments.orders_arguments(slots)
        )
        if fresh:
            args = {k: v for k, v in args.items() if k == "limit"} | fresh
    else:
        generic = arguments.generic_arguments(spec, slots, required_only=False) or {}
        args |= {k: v for k, v in generic.items() if k not in ("query", "q", "text", "message")}
    if (cannot := _cannot(base.name, args, slots)) is not None:
        return Plan("talk", f"cannot:{cannot}", slots, followup=True, context=previous.user)
    return Plan("calls", base.name, slots, (Call(base.name, args),), followup=True, context=previous.user)
