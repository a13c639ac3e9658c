"""From a message (and the turns before it) to what to do: call tools, or answer in words."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from proxy.offline import arguments
from proxy.offline.conversation import Call, Turn
from proxy.offline.intents import THRESHOLD, TOOL_CUES, canonical_text, score_tools, small_talk
from proxy.offline.slots import Slots, find_slots
from proxy.offline.types import ToolSpec
from proxy.offline.words import looks_like_words

Kind = Literal["calls", "talk", "ask_contact", "unknown"]

STRONG = 3.0  # a cue this sure is a new question, not a follow-up of the last one
_OPENER = re.compile(r"^\s*(?:and|what about|how about|same|also|only|now|ok(?:ay)?,? and|but|then|what if)\b", re.I)
_DETAILS = re.compile(
    r"\b(?:more|details?|about|describe|specs?|info|information|tell me|what is it|how much is it|price of it)\b", re.I
)
_ORDERS = TOOL_CUES["customer_orders"]
_TOGETHER_NOISE = frozenset(
    [
        "together",
        "bought",
        "buy",
        "buying",
        "purchased",
        "ordered",
        "often",
        "frequently",
        "commonly",
        "usually",
        "people",
        "customers",
        "go",
        "goes",
        "along",
        "alongside",
        "combination",
        "combinations",
        "pair",
        "pairs",
        "paired",
        "companion",
        "companions",
        "cross",
        "sell",
        "along",
        "with",
        "second",
        "first",
        "next",
        "after",
        "then",
        "product",
        "products",
        "item",
        "items",
        "common",
        "commonly",
        "popular",
    ]
)


@dataclass(frozen=True, slots=True)
class Plan:
    kind: Kind
    intent: str
    """A tool name, a small-talk kind (greeting, thanks, goodbye, capabilities) or "unknown"."""
    slots: Slots
    calls: tuple[Call, ...] = ()
    followup: bool = False
    probe: bool = False
    """The search was tried because nothing else fitted: its answer says so when it finds nothing."""
    wants_orders: bool = False
    together_with: str = ""
    """bought_together / second_product for a product named in words: search for it first."""


def _previous_turn(history: Sequence[Turn]) -> Turn | None:
    for turn in reversed(history):
        if turn.calls:
            return turn
    return None


def _asks_orders(text: str) -> bool:
    canon = canonical_text(text)
    return any(pattern.search(canon) for pattern, _ in _ORDERS)


def make_plan(text: str, tools: Sequence[ToolSpec], now: datetime, history: Sequence[Turn] = ()) -> Plan:
    slots = find_slots(text, now)
    specs = {spec.name: spec for spec in tools}
    if not text.strip():
        return Plan("talk", "greeting", slots)
    scored = score_tools(text, tools)
    best = scored[0] if scored else None
    talk = small_talk(text)
    previous = _previous_turn(history)

    weak = best is None or best.score < STRONG
    opener = _OPENER.match(text) is not None
    if previous is not None and weak and (talk is None or opener) and (slots.modifies or slots.refers_back or opener):
        followed = _follow_up(previous, slots, specs)
        if followed is not None:
            return followed

    if best is not None and best.score >= THRESHOLD:
        planned = _plan_tool(best.tool, slots, specs, history)
        if planned is not None:
            return planned
    if slots.emails and ("capture_lead" in specs or "sendEmail" in specs) and not talk:
        planned = _plan_tool("capture_lead" if "capture_lead" in specs else "sendEmail", slots, specs, history)
        if planned is not None:
            return planned
    if talk is not None:
        return Plan("talk", talk, slots)
    if "search_products" in specs and slots.query and looks_like_words(text):
        call = Call("search_products", arguments.search_arguments(slots, slots.query))
        return Plan("calls", "search_products", slots, (call,), probe=True)
    return Plan("unknown", "unknown", slots)


def _plan_tool(name: str, slots: Slots, specs: Mapping[str, ToolSpec], history: Sequence[Turn]) -> Plan | None:
    spec = specs[name]
    if name == "search_products":
        call = Call(name, arguments.search_arguments(slots, slots.query or "products"))
        return Plan("calls", name, slots, (call,))
    if name == "get_product":
        if slots.ids.products:
            return Plan("calls", name, slots, (Call(name, {"product_id": slots.ids.products[0]}),))
        picked = _product_from_history(history, slots)
        if picked:
            return Plan("calls", name, slots, (Call(name, {"product_id": picked}),))
        if "search_products" in specs and slots.query:
            return Plan("calls", "search_products", slots, (Call("search_products", {"query": slots.query}),))
        return None
    if name == "find_customer":
        wants_orders = _asks_orders(slots.text) and "customer_orders" in specs
        return Plan("calls", name, slots, (Call(name, arguments.customer_arguments(slots)),), wants_orders=wants_orders)
    if name == "customer_orders":
        args = arguments.orders_arguments(slots)
        if "customer_id" not in args and "email" not in args and slots.person and "find_customer" in specs:
            call = Call("find_customer", {"name": slots.person})
            return Plan("calls", "find_customer", slots, (call,), wants_orders=True)
        return Plan("calls", name, slots, (Call(name, args),))
    if name == "shop_insights":
        args = arguments.insight_arguments(slots, spec)
        words = [w for w in slots.query.split() if w not in _TOGETHER_NOISE]
        if (
            args.get("question") in ("bought_together", "second_product")
            and "product_id" not in args
            and words
            and "search_products" in specs
        ):
            query = " ".join(words)
            search = Call("search_products", {"query": query, "limit": 3})
            return Plan("calls", name, slots, (search,), together_with=query)
        return Plan("calls", name, slots, (Call(name, args),))
    if name in ("capture_lead", "sendEmail"):
        lead = arguments.lead_arguments(slots, spec, history)
        if lead is None:
            return Plan("ask_contact", name, slots)
        return Plan("calls", name, slots, (Call(name, lead),))
    if name == "escalate_to_human":
        return Plan("calls", name, slots, (Call(name, arguments.handoff_arguments(slots, spec)),))
    generic = arguments.generic_arguments(spec, slots)
    if generic is None:
        return None
    return Plan("calls", name, slots, (Call(name, generic),))


def _products_of(turn: Turn) -> list[str]:
    """Product ids of the last product list the assistant was shown in ``turn``, in order."""
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


def _product_from_history(history: Sequence[Turn], slots: Slots) -> str | None:
    previous = _previous_turn(history)
    if previous is None:
        return None
    ids = _products_of(previous)
    if not ids:
        return None
    if slots.ordinal is not None:
        index = slots.ordinal - 1 if slots.ordinal > 0 else len(ids) + slots.ordinal
        return ids[index] if 0 <= index < len(ids) else None
    if slots.refers_back and len(ids) >= 1:
        return ids[0]
    return None


def _follow_up(previous: Turn, slots: Slots, specs: Mapping[str, ToolSpec]) -> Plan | None:
    """The previous question again, with what this message changes ("what about April?")."""
    if "get_product" in specs and (slots.ordinal is not None or (slots.refers_back and _DETAILS.search(slots.text))):
        picked = _product_from_history([previous], slots)
        if picked:
            return Plan("calls", "get_product", slots, (Call("get_product", {"product_id": picked}),), followup=True)
    base = next((c for c in reversed(previous.calls) if c.name in specs and c.name != "get_product"), None)
    if base is None:
        return None
    args: dict[str, Any] = dict(base.arguments)
    spec = specs[base.name]
    if base.name == "search_products":
        if slots.query:
            args["query"] = slots.query
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
    return Plan("calls", base.name, replace(slots), (Call(base.name, args),), followup=True)
