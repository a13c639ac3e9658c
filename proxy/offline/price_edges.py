"""The dearest (or cheapest) product of any kind within a price bound: "the most expensive?" after
"show me something under 20".

A search for no kind of product within a price range lists products of that range in no price
order, at most as many as the shop allows. So the search is repeated with the range narrowed to
start at the dearest price found (to end at the cheapest, for the cheapest): when all it lists cost
that price, that price is the end of the range, exactly, and those are the products at it. At most
``MAX_STEPS`` searches; the answer says when it could not make sure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from proxy.offline.conversation import Call, Result
from proxy.offline.render.common import price_of

GENERIC_QUERY = "products"
MAX_STEPS = 4
_WIDE = 50  # the tool caps it at what the shop allows


def first_search(pick: str, earlier: Mapping[str, Any], currency: str | None) -> Call | None:
    """The first search for the ``pick`` end ("priciest" or "cheapest") within the bounds of the
    ``earlier`` search; ``None`` unless the bound that end needs is there (a maximum for the dearest,
    a minimum for the cheapest) and a currency to compare in is known."""
    bound = "max_price" if pick == "priciest" else "min_price"
    if earlier.get(bound) is None or not currency:
        return None
    args: dict[str, Any] = {"query": GENERIC_QUERY, "currency": currency}
    for key in ("min_price", "max_price"):
        if earlier.get(key) is not None:
            args[key] = earlier[key]
    return Call("search_products", args | {"limit": _WIDE})


def is_step(args: Mapping[str, Any]) -> bool:
    """Whether a search's arguments are those of a step (any kind of product, the wide limit)."""
    return args.get("query") == GENERIC_QUERY and args.get("limit") == _WIDE


def _cards(result: Result) -> list[Mapping[str, Any]]:
    data = result.data if isinstance(result.data, Mapping) else {}
    return [c for c in data.get("products") or [] if isinstance(c, Mapping)]


def _amount(card: Mapping[str, Any], currency: str) -> Decimal | None:
    found = price_of(card, currency)
    return found[0] if found is not None and found[1] == currency.upper() else None


def end_price(pick: str, result: Result) -> Decimal | None:
    """The dearest (or cheapest) price among the products ``result`` lists, in its currency."""
    currency = str(result.call.arguments.get("currency") or "")
    amounts = [a for c in _cards(result) if (a := _amount(c, currency)) is not None]
    if not amounts:
        return None
    return max(amounts) if pick == "priciest" else min(amounts)


def _bound(pick: str) -> str:
    return "min_price" if pick == "priciest" else "max_price"


def _at_bound(pick: str, result: Result, end: Decimal) -> bool:
    """Whether ``result``'s search was bounded at ``end`` itself: then all it lists cost ``end``."""
    bound = result.call.arguments.get(_bound(pick))
    return bound is not None and Decimal(str(bound)) == end


def next_search(pick: str, results: Sequence[Result]) -> Call | None:
    """The narrower search from the end found so far (inclusive, so that the products of the same
    price are listed together); ``None`` when the last search found nothing, found only products
    at its own bound (the end is proven), or the steps are used up."""
    last = results[-1]
    if last.error is not None or len(results) >= MAX_STEPS:
        return None
    end = end_price(pick, last)
    if end is None or _at_bound(pick, last, end):
        return None
    return Call("search_products", dict(last.call.arguments) | {_bound(pick): float(end)})


def outcome(pick: str, results: Sequence[Result]) -> tuple[list[Mapping[str, Any]], bool]:
    """The products at the end price (ties together) and whether the last search proved it the end."""
    found = [r for r in results if end_price(pick, r) is not None]
    if not found:
        return [], True
    last = found[-1]
    end = end_price(pick, last)
    assert end is not None
    currency = str(last.call.arguments.get("currency") or "")
    at_end = [c for c in _cards(last) if _amount(c, currency) == end]
    return at_end, _at_bound(pick, last, end)
