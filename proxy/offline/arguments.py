"""Arguments for a call, filled from the message's slots and the tool's JSON schema."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from proxy.offline import entities
from proxy.offline.conversation import Turn
from proxy.offline.intents import TOOL_CUES, canonical_text, has_cue
from proxy.offline.slots import Slots
from proxy.offline.types import ToolSpec
from proxy.offline.words import same_word, tokens

_QUERY_NAMES = re.compile(
    r"^(?:query|q|search|term|terms|keywords?|text|topic|prompt|input|question|about|what)$", re.I
)
_MESSAGE_NAMES = re.compile(r"(?:message|note|comment|request|body|details|reason|description|summary)", re.I)
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
_PERIOD_LIMIT = 50
_CONTACT_CUES = TOOL_CUES["capture_lead"]


def properties(spec: ToolSpec) -> dict[str, Any]:
    props = spec.parameters.get("properties") if isinstance(spec.parameters, Mapping) else None
    return dict(props) if isinstance(props, Mapping) else {}


def required(spec: ToolSpec) -> list[str]:
    value = spec.parameters.get("required") if isinstance(spec.parameters, Mapping) else None
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _whole(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def apply_prices(args: dict[str, Any], slots: Slots) -> dict[str, Any]:
    bounds = slots.prices
    out = dict(args)
    if bounds.currency:
        out["currency"] = bounds.currency
    if bounds.min_price is not None:
        out["min_price"] = _whole(bounds.min_price)
    if bounds.max_price is not None:
        out["max_price"] = _whole(bounds.max_price)
    return out


def search_arguments(slots: Slots, query: str) -> dict[str, Any]:
    args = apply_prices({"query": query}, slots)
    if slots.limit:
        args["limit"] = slots.limit
    elif slots.pick:
        args["limit"] = 10  # the cheapest (or dearest) of a wider set
    return args


GENERIC_QUERY = "products"  # a search that names no kind of product
# A bound no price passes: the search then lists, as its alternatives, the products nearest to it.
_NO_PRICE_BELOW, _NO_PRICE_ABOVE = 0, 1_000_000_000


def shop_wide_arguments(slots: Slots, earlier: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The search for "the cheapest one" (or the dearest) when no kind of product is named, in this
    message or in the ``earlier`` search a follow-up changes: the ends of the whole shop's price
    range, not of the products nearest to the word "products". Within a bound no price passes (at
    most 0, or at least a billion) nothing matches, and search_products lists the products nearest
    to that bound as its alternatives, cheapest (or dearest) first, in the currency asked for if
    any. None when a kind of product or a price range is given: that is a search like any other."""
    earlier_pick = shop_wide_pick(earlier or {})
    before = without_shop_wide_bound(earlier or {})
    pick = slots.pick or earlier_pick  # "and in USD?" after the shop's cheapest: still the cheapest
    bounds = slots.prices
    named = slots.query or before.get("query", GENERIC_QUERY) != GENERIC_QUERY
    ranged = bounds.min_price is not None or bounds.max_price is not None
    if not pick or named or ranged or before.get("min_price") is not None or before.get("max_price") is not None:
        return None
    return shop_end_arguments(pick, bounds.currency or before.get("currency"), slots.limit)


def shop_end_arguments(pick: str, currency: str | None, limit: int | None = None) -> dict[str, Any]:
    """The search for the cheapest (or, ``pick`` "priciest", the dearest) products of the whole shop."""
    args: dict[str, Any] = {"query": GENERIC_QUERY}
    if currency:
        args["currency"] = currency
    if pick == "priciest":
        args["min_price"] = _NO_PRICE_ABOVE
    else:
        args["max_price"] = _NO_PRICE_BELOW
    if limit:
        args["limit"] = limit
    return args


def shop_wide_pick(search: Mapping[str, Any]) -> str | None:
    """``cheapest`` or ``priciest`` when ``search`` was one for the ends of the whole shop's range."""
    if search.get("query", GENERIC_QUERY) != GENERIC_QUERY:
        return None
    if search.get("max_price") == _NO_PRICE_BELOW:
        return "cheapest"
    if search.get("min_price") == _NO_PRICE_ABOVE:
        return "priciest"
    return None


def without_shop_wide_bound(search: Mapping[str, Any]) -> dict[str, Any]:
    """``search`` without the bound no price passes (a device of the shop-wide search, not a price
    the visitor asked for): what a follow-up of it changes."""
    pick = shop_wide_pick(search)
    dropped = {"cheapest": "max_price", "priciest": "min_price"}.get(pick or "")
    return {k: v for k, v in search.items() if k != dropped}


def customer_arguments(slots: Slots) -> dict[str, Any]:
    if slots.ids.customers:
        return {"customer_id": slots.ids.customers[0]}
    if slots.emails:
        return {"email": slots.emails[0]}
    if slots.person:
        return {"name": slots.person}
    return {}


def orders_arguments(slots: Slots) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if slots.ids.customers:
        args["customer_id"] = slots.ids.customers[0]
    elif slots.emails:
        args["email"] = slots.emails[0]
    if slots.period is not None or slots.pick or slots.tally:
        args["limit"] = _PERIOD_LIMIT  # the tool caps it at what the shop allows
    elif slots.limit:
        args["limit"] = slots.limit
    return args


def _enum(spec: ToolSpec, name: str) -> list[str]:
    prop = properties(spec).get(name)
    values = prop.get("enum") if isinstance(prop, Mapping) else None
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


def update_insight(args: dict[str, Any], slots: Slots, spec: ToolSpec) -> dict[str, Any]:
    """A shop_insights call changed by a follow-up ("what about April?", "and the cheapest?")."""
    out = dict(args)
    question = out.get("question")
    modifier = slots.by_revenue and question == "best_sellers" and slots.question == "revenue"  # "and by revenue?"
    if slots.question and slots.question_weight >= 2.5 and not modifier and not slots.tally:
        question = slots.question  # "how many orders was that?" is about the answer shown, not a new question
    elif (slots.pick == "cheapest" or slots.size == "smallest") and question in ("largest_purchase", "revenue"):
        question = "cheapest_purchase"  # "and the cheapest one?" after a period's revenue: its cheapest order
    elif (slots.pick == "priciest" or slots.size == "largest") and question in ("cheapest_purchase", "revenue"):
        question = "largest_purchase"
    if question != out.get("question"):
        out = {"question": question} | {k: v for k, v in out.items() if k in ("date_from", "date_to", "currency")}
    if slots.period is not None:
        start, end = slots.period.iso()
        out.pop("date_from", None)
        out.pop("date_to", None)
        if start:
            out["date_from"] = start
        if end:
            out["date_to"] = end
    if slots.prices.currency:
        out["currency"] = slots.prices.currency
    if slots.by_revenue and "revenue" in _enum(spec, "by") and question == "best_sellers":
        out["by"] = "revenue"
    if slots.by_month and question == "revenue":
        out["by_month"] = True
    if question == "top_customers" and "least" in _enum(spec, "rank"):
        if slots.low_end and not slots.of_shown:  # "who spent the least?": of all customers, not of a list shown
            out["rank"] = "least"
        elif slots.question == "top_customers" and slots.question_weight >= 2.5 and not (slots.pick or slots.of_shown):
            out.pop("rank", None)  # "who are our top customers?" after the lowest spenders
    if slots.limit:
        out["limit"] = slots.limit
    return out


def insight_arguments(slots: Slots, spec: ToolSpec) -> dict[str, Any]:
    questions = _enum(spec, "question")
    question = slots.question if slots.question in questions or not questions else None
    if question is None:
        question = match_enum(slots.text, questions) or (questions[0] if questions else "best_sellers")
    args: dict[str, Any] = {"question": question}
    args = update_insight(args, slots, spec)
    if question in ("bought_together", "second_product") and slots.ids.products:
        args["product_id"] = slots.ids.products[0]
    if question == "second_product" and slots.by_customer and "customer" in _enum(spec, "basis"):
        args["basis"] = "customer"
    if question == "revenue" and slots.by_month:
        args["by_month"] = True
    return args


def _earlier_user_texts(history: Sequence[Turn]) -> list[str]:
    return [turn.user for turn in history if turn.user]


def lead_arguments(slots: Slots, spec: ToolSpec, history: Sequence[Turn]) -> dict[str, Any] | None:
    """capture_lead / sendEmail arguments, or None while the visitor has not given an email."""
    if not slots.emails:
        return None
    email = slots.emails[0]
    earlier = _earlier_user_texts(history)
    name = slots.own_name or next((n for t in reversed(earlier) if (n := entities.own_name(t))), None)
    name = name or entities.name_from_email(email)
    asked = [t for t in earlier[-2:] if has_cue(t, "capture_lead")]
    message = " ".join([*asked, slots.text]).strip()
    args: dict[str, Any] = {"name": name, "email": email, "message": message[:2000]}
    props = properties(spec)
    phone = slots.phone or next((p for t in reversed(earlier) if (p := entities.find_phone(t))), None)
    if phone and "phone" in props:
        args["phone"] = phone
    if "consent" in props:
        canon = " ".join(canonical_text(t) for t in [*asked, slots.text])
        args["consent"] = any(p.search(canon) for p, _ in _CONTACT_CUES)
    return {k: v for k, v in args.items() if k in props or not props}


def handoff_arguments(slots: Slots, spec: ToolSpec) -> dict[str, Any]:
    text = " ".join(slots.text.split())
    reason = f'The visitor asked for a person: "{text[:300]}"'
    key = next((k for k in properties(spec) if _MESSAGE_NAMES.search(k)), "reason")
    return {key: reason}


def match_enum(text: str, values: Sequence[str]) -> str | None:
    """The enum value whose words the message uses most ("by revenue" -> ``revenue``)."""
    words = tokens(text)
    best: tuple[str | None, float] = (None, 0.0)
    for value in values:
        parts = [p for p in re.split(r"[_\W]+", value.lower()) if p]
        if not parts:
            continue
        hits = sum(1 for p in parts if any(same_word(p, w) for w in words))
        share = hits / len(parts)
        if share > best[1]:
            best = (value, share)
    return best[0] if best[1] >= 0.5 else None


def _id_for(name: str, slots: Slots) -> str | None:
    lowered = name.lower()
    ids = slots.ids
    if "product" in lowered:
        return ids.products[0] if ids.products else None
    if "customer" in lowered or "user" in lowered:
        return ids.customers[0] if ids.customers else None
    if "invoice" in lowered or "order" in lowered:
        pool = ids.invoices or ids.other
        return pool[0] if pool else None
    pool = ids.products + ids.customers + ids.invoices + ids.other
    return pool[0] if pool else None


def _value_for(name: str, prop: Mapping[str, Any], slots: Slots) -> Any:
    lowered = name.lower()
    kind = prop.get("type")
    enum = prop.get("enum")
    if isinstance(enum, list) and enum:
        return match_enum(slots.text, [v for v in enum if isinstance(v, str)])
    if kind == "boolean":
        return None
    if "email" in lowered:
        return slots.emails[0] if slots.emails else None
    if "phone" in lowered:
        return slots.phone
    if lowered.endswith("name") or lowered == "name":
        return slots.own_name or slots.person
    if lowered.endswith(("id", "_ids", "number", "_no", "ref", "reference")) and kind != "integer":
        return _id_for(lowered, slots)
    if "currency" in lowered:
        return slots.prices.currency
    if (re.search(r"(?:min|from|low)", lowered) and "price" in lowered) or lowered in ("min", "min_amount"):
        return None if slots.prices.min_price is None else _whole(slots.prices.min_price)
    if (
        re.search(r"(?:max|budget|to|high)", lowered) and ("price" in lowered or "budget" in lowered)
    ) or lowered == "max":
        return None if slots.prices.max_price is None else _whole(slots.prices.max_price)
    if slots.period is not None and re.search(r"(?:date|day|since|until|start|end|from|to)", lowered):
        start, end = slots.period.iso()
        return start if re.search(r"(?:from|start|since|begin)", lowered) else end
    if kind == "integer" and re.search(r"(?:limit|count|top|number|max_results|size)", lowered):
        return slots.limit
    if _QUERY_NAMES.match(lowered):
        return slots.query or slots.text
    if _MESSAGE_NAMES.search(lowered):
        return slots.text
    return None


def generic_arguments(spec: ToolSpec, slots: Slots, *, required_only: bool = False) -> dict[str, Any] | None:
    """Arguments for any tool from its schema; None when a required one cannot be filled."""
    props = properties(spec)
    args: dict[str, Any] = {}
    needed = required(spec)
    for name, prop in props.items():
        if required_only and name not in needed:
            continue
        value = _value_for(name, prop if isinstance(prop, Mapping) else {}, slots)
        if value is None and name in needed:
            kind = prop.get("type") if isinstance(prop, Mapping) else None
            if kind == "string":
                value = slots.query or slots.text
            elif kind in ("number", "integer") and (number := _NUMBER.search(slots.text)):
                value = float(number.group()) if kind == "number" else int(float(number.group()))
            elif kind == "boolean":
                value = False
        if value is not None:
            args[name] = value
    if any(name not in args for name in needed):
        return None
    return args
