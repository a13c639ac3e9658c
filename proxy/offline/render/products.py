"""Product lists (search_products, both its plain and its match-annotated output) and one product."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from proxy.offline import price_edges
from proxy.offline.conversation import Result
from proxy.offline.follow_ups import ASKS_IF, only_currency
from proxy.offline.plan import Plan
from proxy.offline.render.common import (
    MAX_ITEMS,
    bullets,
    card_line,
    card_words,
    join,
    match_of,
    price_of,
    prices_text,
    text,
)
from proxy.offline.words import content_words, word_in

_YES_NO = re.compile(
    r"^\s*(?:do|does|have|got|is|are|any|can)\b|\bdo (?:you|u) (?:have|sell|stock|carry|offer)\b", re.I
)
_FILTER_KEYS = ("currency", "min_price", "max_price")
_COMPARE = re.compile(r"\b(?:compare|comparing|comparison|difference|differences|versus|vs)\b", re.I)


def _filters(data: Mapping[str, Any], result: Result) -> dict[str, Any]:
    given = data.get("filters")
    if isinstance(given, Mapping):
        return dict(given)
    return {k: result.call.arguments[k] for k in _FILTER_KEYS if result.call.arguments.get(k) is not None}


def _amount(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return text(value)
    return f"{number:.2f}" if not number.is_integer() else str(int(number))


def filter_text(filters: Mapping[str, Any]) -> str:
    currency = text(filters.get("currency")).upper()
    unit = f" {currency}" if currency else ""
    low, high = filters.get("min_price"), filters.get("max_price")
    if low is not None and high is not None:
        return f" between {_amount(low)} and {_amount(high)}{unit}"
    if high is not None:
        return f" at or under {_amount(high)}{unit}"
    if low is not None:
        return f" from {_amount(low)}{unit} up"
    return f" priced in {currency}" if currency else ""


def _cards(value: Any) -> list[Mapping[str, Any]]:
    return [c for c in value if isinstance(c, Mapping)] if isinstance(value, list) else []


def _mostly(card: Mapping[str, Any], query: str) -> bool:
    """A partial match that has all but one of several words ("foam roller" for "foam roller pro")."""
    wanted = content_words(query)
    words = card_words(card)
    hits = sum(1 for w in wanted if word_in(w, words))
    return len(wanted) >= 2 and hits >= len(wanted) - 1


def _by_price(cards: Sequence[Mapping[str, Any]], currency: str | None) -> list[Mapping[str, Any]]:
    priced = [c for c in cards if price_of(c, currency) is not None]
    return sorted(priced, key=lambda c: price_of(c, currency) or (0, "")) + [c for c in cards if c not in priced]


_NAME_A_KIND = (
    "I can only compare prices within a kind of product: tell me what you are looking for (a tent, a mug,"
    " headphones ...) and I'll find the cheapest."
)


def _pick(plan: Plan, cards: Sequence[Mapping[str, Any]], currency: str | None, query: str) -> str:
    if not query or query == "products":  # no kind of product named: the search cannot know the whole range
        return _NAME_A_KIND
    ordered = _by_price(cards, currency)
    if plan.slots.pick == "priciest":
        ordered = list(reversed([c for c in ordered if price_of(c, currency)]))
    top = ordered[0]
    which = "most expensive" if plan.slots.pick == "priciest" else "cheapest"
    about = f' match for "{query}"' if query and query != "products" else ""
    line = f"The {which}{about} is {text(top.get('name'))} ({text(top.get('id'))}) at {prices_text(top, currency)}."
    others = [c for c in ordered[1:MAX_ITEMS] if c is not top]
    if others:
        line += "\n\nNext by price:\n" + bullets(card_line(c, currency) for c in others)
    return line


def _shop_wide(plan: Plan, data: Mapping[str, Any], currency: str | None) -> str | None:
    """The cheapest (or dearest) products of the whole shop, from a search within a bound no price
    passes (:func:`proxy.offline.arguments.shop_wide_arguments`): what passes it (free products,
    for the cheapest), then its alternatives, nearest to the bound first. None when the output has
    no such list (a search tool of the site's own, which lists no alternatives)."""
    listed = _cards(data.get("products")) + _cards(data.get("alternatives"))
    if "alternatives" not in data or not listed:
        return None
    which = "most expensive" if plan.slots.pick == "priciest" else "cheapest"
    where = f" priced in {currency.upper()}" if currency else ""
    top, others = listed[0], listed[1:MAX_ITEMS]
    line = f"The {which} product in our shop{where} is {text(top.get('name'))} ({text(top.get('id'))})"
    line += f" at {prices_text(top, currency)}." if top.get("prices") else "."
    if others:
        line += "\n\nNext by price:\n" + bullets(card_line(c, currency) for c in others)
    return line


def render_unconverted(plan: Plan, results: Sequence[Result]) -> str:
    """The products of the answer before in the currency asked for, with the limit as it was given."""
    assert plan.unconverted is not None
    low, high, given = plan.unconverted
    asked = (plan.slots.prices.currency or "").upper()
    cards = [r.data for r in results if r.error is None and isinstance(r.data, Mapping) and r.data.get("id")]
    if not cards:
        return "I couldn't look those products up just now."
    within = filter_text({"currency": given, "min_price": low, "max_price": high}).strip()
    lines = bullets(card_line(c, asked) for c in cards)
    return (
        f"In {asked}, {'that product costs' if len(cards) == 1 else 'those products cost'}:\n{lines}\n\n"
        f"Your limit stays as you gave it, {within}: our {asked} prices are set on their own, not converted."
    )


def render_pick_of_shown(plan: Plan, results: Sequence[Result]) -> str:
    """The cheapest (or dearest) of the products shown again in another currency, in it."""
    currency = plan.shown_in
    cards = [r.data for r in results if r.error is None and isinstance(r.data, Mapping) and r.data.get("id")]
    ordered = [c for c in _by_price(cards, currency) if price_of(c, currency) is not None]
    if not ordered:
        return "I couldn't look those products up just now."
    if plan.slots.pick == "priciest":
        ordered.reverse()
    which = "most expensive" if plan.slots.pick == "priciest" else "cheapest"
    top = ordered[0]
    if len(ordered) == 1:
        return f"That is the only one: {text(top.get('name'))} ({text(top.get('id'))}) at {prices_text(top, currency)}."
    line = f"The {which} of those is {text(top.get('name'))} ({text(top.get('id'))}) at {prices_text(top, currency)}."
    if ordered[1:]:
        line += "\n\nNext by price:\n" + bullets(card_line(c, currency) for c in ordered[1:MAX_ITEMS])
    return line


def render_edge(plan: Plan, results: Sequence[Result]) -> str:
    """The dearest (or cheapest) product within the price bounds of the first search, with those of
    the same price (see :mod:`proxy.offline.price_edges`)."""
    first = results[0]
    data = first.data if isinstance(first.data, Mapping) else {}
    filters = _filters(data, first)
    currency = text(filters.get("currency")) or None
    within = filter_text(filters)
    if first.error is not None:
        return f"I couldn't search the catalogue just now ({first.error})."
    at_end, proven = price_edges.outcome(plan.edge, results)
    if not at_end:
        return f"We have nothing{within}."
    which = "most expensive" if plan.edge == "priciest" else "cheapest"
    top = at_end[0]
    if proven:
        line = f"The {which} product{within} is {text(top.get('name'))} ({text(top.get('id'))})"
    else:
        line = f"The {which} product{within} I found is {text(top.get('name'))} ({text(top.get('id'))})"
    line += f" at {prices_text(top, currency)}."
    same = [f"{text(c.get('name'))} ({text(c.get('id'))})" for c in at_end[1:]]
    if same:
        line += f" {join(same)} {'costs' if len(same) == 1 else 'cost'} the same."
    if not proven:
        higher = "higher" if plan.edge == "priciest" else "lower"
        line += f" There may be others at a {higher} price in that range: name a kind of product to compare within it."
    return line


def _alternatives(
    data: Mapping[str, Any], extra: Sequence[Result], query: str, filters: Mapping[str, Any], shown: set[str]
) -> list[Mapping[str, Any]]:
    """The nearest items when nothing matches: from the output itself, else from a wider second search."""
    currency = text(filters.get("currency")) or None
    given = _cards(data.get("alternatives"))
    if not given:
        for result in extra:
            if isinstance(result.data, Mapping):
                given += _cards(result.data.get("products"))
    fresh = [c for c in given if text(c.get("id")) not in shown]
    strong = [c for c in fresh if match_of(c, query) == "strong"]
    partial = [c for c in fresh if match_of(c, query) == "partial"]
    if strong:
        return _by_price(strong, currency) if filters.get("max_price") is not None else strong
    if _cards(data.get("alternatives")):
        return partial or fresh
    return partial


SEARCH_LIMIT = 5  # search_products' own default for how many it returns


def _capped(result: Result, cards: Sequence[Mapping[str, Any]], strong: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the search returned as many products as it was allowed to (so there may be more), or
    more matches than an answer lists."""
    asked = result.call.arguments.get("limit")
    limit = asked if isinstance(asked, int) and asked > 0 else SEARCH_LIMIT
    return len(strong) > MAX_ITEMS or (len(cards) >= limit and len(strong) == len(cards))


def render_search(plan: Plan, results: Sequence[Result], capabilities: str) -> str:
    first = results[0]
    data = first.data if isinstance(first.data, Mapping) else {}
    query = text(data.get("query")) or text(first.call.arguments.get("query"))
    filters = _filters(data, first)
    currency = text(filters.get("currency")) or None
    if plan.shop_wide:
        return _shop_wide(plan, data, currency) or _NAME_A_KIND
    cards = _cards(data.get("products"))
    strong = [c for c in cards if match_of(c, query) == "strong"]
    if _COMPARE.search(plan.slots.text):
        compared = strong + [c for c in cards if c not in strong and _mostly(c, query)]
        if len(compared) >= 2:
            return "Side by side:\n" + bullets(
                f"{card_line(c, currency)}. {text(c.get('description'))}" for c in compared[:4]
            )
    if strong:
        if plan.slots.pick:
            return _pick(plan, strong, currency, query)
        if len(strong) == 1 and plan.slots.refers_back:
            return render_product(strong[0], plan)
        head = "Yes, here is what we have" if _YES_NO.search(plan.slots.text) else "Here is what we have"
        about = f' for "{query}"' if query and query != "products" else ""
        if _capped(first, cards, strong):  # there may be more than those listed: never say it is all
            yes = "Yes, here" if head.startswith("Yes") else "Here"
            head = f"{yes} are {min(len(strong), MAX_ITEMS)} of the products we have"
        if query == "products" and not filters:
            head, about = "Here are some of our products", ""
        return f"{head}{about}{filter_text(filters)}:\n" + bullets(card_line(c, currency) for c in strong[:MAX_ITEMS])

    alternatives = _alternatives(data, results[1:], query, filters, set())
    if plan.probe:
        opening = f'I couldn\'t find anything in our catalogue for "{query}".'
    else:
        no = "No, we" if _YES_NO.search(plan.slots.text) else "We"
        opening = f'{no} have nothing that matches "{query}"{filter_text(filters)}.'
    if plan.probe:  # the words were not a product question: no guesses
        return f"{opening} {capabilities}"
    if not alternatives:
        alternatives = [c for c in cards if match_of(c, query) == "partial"]
    if not alternatives:
        return opening + " Could you describe it in other words?"
    within_kind = [c for c in alternatives if match_of(c, query) == "strong"]
    bounded = filters.get("max_price") is not None or filters.get("min_price") is not None
    if plan.followup and plan.slots.pick and within_kind and bounded:  # "and the cheapest one?" after "none under X"
        return (
            _pick(plan, within_kind, currency, query) + f'\n\nNothing that matches "{query}" is{filter_text(filters)}.'
        )
    top = alternatives[0]
    strong_alternative = match_of(top, query) == "strong"
    if strong_alternative and filters.get("max_price") is not None:
        lead = f"The cheapest is {text(top.get('name'))} ({text(top.get('id'))}) at {prices_text(top, currency)}."
        rest = alternatives[1:3]
        return (
            opening + " " + lead + ("\n\nAlso close:\n" + bullets(card_line(c, currency) for c in rest) if rest else "")
        )
    label = "The closest are" if len(alternatives) > 1 else "The closest is"
    return f"{opening} {label}:\n" + bullets(card_line(c, currency) for c in alternatives[:3])


def render_product(card: Mapping[str, Any], plan: Plan | None = None) -> str:
    """One product in full; for "is it waterproof?" first whether its description says so."""
    if plan is not None and plan.followup and only_currency(plan.slots) and plan.slots.prices.currency:
        return _price_in(card, plan.slots.prices.currency)
    details = _details(card)
    if plan is None or not ASKS_IF.search(plan.slots.text):
        return details
    words = [w for w in content_words(plan.slots.query) if w not in _NOT_A_FEATURE]
    if not words:
        return details
    asked = " ".join(words)
    if all(word_in(w, card_words(card)) for w in words):
        return f'Yes, its description mentions "{asked}". {details}'
    return f"Its description doesn't mention \"{asked}\", so I can't confirm that. {details}"


def _price_in(card: Mapping[str, Any], currency: str) -> str:
    """One product's price in ``currency`` ("in dollars?" after its details), or that it has none."""
    head = f"{text(card.get('name'))} ({text(card.get('id'))})"
    prices = [str(p) for p in card.get("prices") or []]
    wanted = [p for p in prices if p.upper().endswith(currency.upper()) or f" {currency.upper()}/" in p.upper()]
    if wanted:
        return f"{head} costs {join(wanted, 'or')}."
    if prices:
        return f"{head} has no price in {currency.upper()}; it costs {join(prices, 'or')}."
    return f"{head} has no price listed."


_NOT_A_FEATURE = frozenset({"come", "comes", "really", "also", "still", "actually", "good", "available"})


def _details(card: Mapping[str, Any]) -> str:
    name, pid = text(card.get("name")), text(card.get("id"))
    parts = [f"{name} ({pid})" + (f", in {text(card.get('category'))}" if card.get("category") else "") + "."]
    if card.get("description"):
        parts.append(text(card.get("description")).rstrip(".") + ".")
    prices = [str(p) for p in card.get("prices") or []]
    if prices:
        parts.append(f"Price: {join(prices, 'or')}.")
    if card.get("active") is False:
        parts.append("It is not currently available.")
    return " ".join(parts)
