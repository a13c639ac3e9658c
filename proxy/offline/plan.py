"""From a message (and the turns before it) to what to do: call tools, or answer in words."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from rapidfuzz import fuzz

from proxy.offline import arguments
from proxy.offline.conversation import Call, Turn
from proxy.offline.intents import (
    THRESHOLD,
    TOOL_CUES,
    canonical_text,
    has_cue,
    identity_question,
    policy_topic,
    score_tools,
    small_talk,
)
from proxy.offline.slots import Slots, find_slots, product_queries, product_query
from proxy.offline.types import ToolSpec
from proxy.offline.words import STOP_WORDS, looks_like_words

Kind = Literal["calls", "talk", "ask_contact", "unknown"]

STRONG = 3.0  # a cue this sure is a new question, not a follow-up of the last one
_OPENER = re.compile(r"^\s*(?:and|what about|how about|same|also|only|now|ok(?:ay)?,? and|but|then|what if)\b", re.I)
_DETAILS = re.compile(
    r"\b(?:more|details?|about|describe|specs?|info|information|tell me|what is it|how much is it|price of it)\b", re.I
)
ASKS_IF = re.compile(
    r"^\s*(?:is|does|can|will|has|are|do|would|could)\s+(?:it|this|that|they|these|those|the\s+\w+)\b", re.I
)
_CHANGE_ORDER = re.compile(
    r"\b(?:cancel|change|modify|amend|edit|update)\s+(?:my|an|the|this|that|our)?\s*"
    r"(?:order|purchase|delivery address)\b",
    re.I,
)
# Calls that do something rather than look something up: a follow-up never repeats them.
_NOT_REPEATED = frozenset({"get_product", "capture_lead", "sendEmail", "escalate_to_human"})
_ORDER_WORDS = frozenset(
    [
        "order",
        "orders",
        "purchase",
        "purchases",
        "buy",
        "buys",
        "customer",
        "customers",
        "their",
        "what",
        "else",
        "usually",
        "also",
        "well",
        "get",
        "gets",
    ]
)
_PRODUCT_ID = re.compile(r"\bprod_\w+")
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
    context: str = ""
    """For a follow-up: the message it follows ("where is my last order?" before "what's in it?")."""


def _previous_turn(history: Sequence[Turn]) -> Turn | None:
    for turn in reversed(history):
        if turn.calls:
            return turn
    return None


def _recalled(history: Sequence[Turn], tools: Sequence[ToolSpec], now: datetime, depth: int = 3) -> Turn | None:
    """The last turn with its calls. A transcript of text only (as Chat Completions keep it) has
    none: then the calls are those the previous message asks for, planned again (deterministic)."""
    found = _previous_turn(history)
    if found is not None or not history or depth <= 0:
        return found
    last = history[-1]
    if not last.user:
        return None
    earlier = make_plan(last.user, tools, now, history[:-1], depth=depth - 1)
    if earlier.kind != "calls":
        return None
    return Turn(user=last.user, calls=list(earlier.calls), reply=last.reply)


def make_plan(
    text: str, tools: Sequence[ToolSpec], now: datetime, history: Sequence[Turn] = (), *, depth: int = 3
) -> Plan:
    slots = find_slots(text, now)
    specs = {spec.name: spec for spec in tools}
    if not text.strip():
        return Plan("talk", "greeting", slots)
    scored = score_tools(text, tools)
    best = scored[0] if scored else None
    talk = small_talk(text)
    if identity_question(text):
        return Plan("talk", "capabilities", slots)
    previous = _recalled(history, tools, now, depth)

    opener = _OPENER.match(text) is not None
    same_tool = previous is not None and best is not None and any(c.name == best.tool for c in previous.calls)
    weak = best is None or best.score < STRONG or (opener and same_tool)  # "and by revenue?" after best sellers
    if previous is not None and weak and (talk is None or opener) and (slots.modifies or slots.refers_back or opener):
        followed = _follow_up(previous, slots, specs)
        if followed is not None:
            return followed

    if _CHANGE_ORDER.search(text):
        return Plan("talk", "policy:changing or cancelling orders", slots)
    # returns, shipping, payment: no tool of ours knows the shop's policies; another tool may
    unsure = best is None or best.score < THRESHOLD or (best.score < STRONG and best.tool in TOOL_CUES)
    if (topic := policy_topic(text)) and unsure:
        return Plan("talk", f"policy:{topic}", slots)
    if best is not None and best.score >= THRESHOLD:
        planned = _plan_tool(best.tool, slots, specs, history, previous)
        if planned is not None:
            return planned
    if slots.emails and ("capture_lead" in specs or "sendEmail" in specs) and not talk:
        planned = _plan_tool(
            "capture_lead" if "capture_lead" in specs else "sendEmail", slots, specs, history, previous
        )
        if planned is not None:
            return planned
    if talk is not None:
        return Plan("talk", talk, slots)
    if "search_products" in specs and slots.query and looks_like_words(text):
        call = Call("search_products", arguments.search_arguments(slots, slots.query))
        return Plan("calls", "search_products", slots, (call,), probe=True)
    return Plan("unknown", "unknown", slots)


def _product_words_of(text: str) -> list[str]:
    """The product named in an insight question ("what goes with the two-person tent"), typos of its
    other words corrected first ("wich products are bougth together" names none)."""
    words = product_query(canonical_text(text)).split()
    return [
        w
        for w in words
        if w not in _TOGETHER_NOISE
        and w not in _ORDER_WORDS
        and not any(fuzz.ratio(w, s) >= 85 for s in STOP_WORDS if len(w) >= 4)
    ]


def _plan_tool(
    name: str, slots: Slots, specs: Mapping[str, ToolSpec], history: Sequence[Turn], previous: Turn | None
) -> Plan | None:
    spec = specs[name]
    if name == "search_products":
        queries = product_queries(slots.text) if slots.query else ["products"]
        calls = tuple(Call(name, arguments.search_arguments(slots, q)) for q in queries)
        return Plan("calls", name, slots, calls)  # several products: parallel searches
    if name == "get_product":
        if slots.ids.products:
            return Plan("calls", name, slots, (Call(name, {"product_id": slots.ids.products[0]}),))
        picked = _product_from_history(previous, slots)
        if picked:
            return Plan("calls", name, slots, (Call(name, {"product_id": picked}),))
        if "search_products" in specs and slots.query:
            return Plan("calls", "search_products", slots, (Call("search_products", {"query": slots.query}),))
        return None
    if name == "find_customer":
        wants_orders = has_cue(slots.text, "customer_orders") and "customer_orders" in specs
        args = arguments.customer_arguments(slots)
        if not args and (loose := _loose_name(slots)):
            args = {"name": loose}
        return Plan("calls", name, slots, (Call(name, args),), wants_orders=wants_orders)
    if name == "customer_orders":
        args = arguments.orders_arguments(slots)
        person = slots.person or _loose_name(slots)
        if "customer_id" not in args and "email" not in args and person and "find_customer" in specs:
            call = Call("find_customer", {"name": person})
            return Plan("calls", "find_customer", slots, (call,), wants_orders=True)
        return Plan("calls", name, slots, (Call(name, args),))
    if name == "shop_insights":
        args = arguments.insight_arguments(slots, spec)
        words = _product_words_of(slots.text)
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


_FIRST_PERSON = re.compile(r"\b(?:i|me|my|mine|i'm|im|i've|myself)\b", re.I)
_NOT_A_NAME = frozenset(
    [
        "order",
        "orders",
        "ordered",
        "place",
        "placed",
        "made",
        "make",
        "buy",
        "bought",
        "purchase",
        "purchases",
        "purchased",
        "customer",
        "customers",
        "client",
        "clients",
        "account",
        "accounts",
        "record",
        "records",
        "find",
        "look",
        "lookup",
        "search",
        "details",
        "detail",
        "info",
        "show",
        "list",
        "history",
        "invoices",
        "invoice",
        "last",
        "latest",
        "recent",
        "anything",
        "something",
        "everything",
        "ever",
        "get",
        "got",
        "has",
        "have",
        "had",
        "spent",
        "spend",
    ]
)


def _loose_name(slots: Slots) -> str | None:
    """A name written in lower case ("what orders did oscar jansen place"): the words left once the
    question's own words are gone, when they are one to three plain words. Never for "my"/"I"."""
    if _FIRST_PERSON.search(slots.text):
        return None
    words = [w for w in slots.query.split() if w not in _NOT_A_NAME and w.isalpha()]
    if not 1 <= len(words) <= 3:
        return None
    return " ".join(w.capitalize() for w in words)


def _products_of(turn: Turn) -> list[str]:
    """Product ids of the last product list shown in ``turn``, in order: from the tool outputs, else
    from the reply's text (a transcript without tool items)."""
    found: list[str] = list(dict.fromkeys(_PRODUCT_ID.findall(turn.reply)))
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


def _product_from_history(previous: Turn | None, slots: Slots) -> str | None:
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


def _follow_up(previous: Turn, slots: Slots, specs: Mapping[str, ToolSpec]) -> Plan | None:
    """The previous question again, with what this message changes ("what about April?")."""
    about_it = slots.refers_back and (_DETAILS.search(slots.text) or ASKS_IF.search(slots.text))
    if "get_product" in specs and (slots.ordinal is not None or about_it):
        picked = _product_from_history(previous, slots)
        if picked:
            call = Call("get_product", {"product_id": picked})
            return Plan("calls", "get_product", slots, (call,), followup=True, context=previous.user)
    base = next((c for c in reversed(previous.calls) if c.name in specs and c.name not in _NOT_REPEATED), None)
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
    return Plan("calls", base.name, slots, (Call(base.name, args),), followup=True, context=previous.user)
