"""The dearest (or cheapest) product of any kind within a price bound: "the most expensive?" after
"show me something under 20".

A search for no kind of product within a price range lists products of that range in no price
order, at most as many as the shop allows. So the search is repeated above the dearest price found
(below the cheapest, for the cheapest): when that finds nothing, the price found is the end of the
range, exactly, and a last search for that one price lists the products at it. At most
``MAX_STEPS`` searches; the answer says when it could not make sure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from proxy.offline.conversation import Call, Result
from proxy.offline.render.common import price_of

GENERIC_QUERY = "products"
MAX_STEPS = 6
_STEP = Decimal("0.001")  # under the smallest unit of every currency (Stripe's have at most three decimals)
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


def pick_of(calls: Sequence[Call]) -> str | None:
    """The end a turn's steps looked for: ``priciest`` when they raised the minimum, ``cheapest``
    when they lowered the maximum; ``None`` for fewer than two steps."""
    steps = [c.arguments for c in calls if c.name == "search_products" and is_step(c.arguments)]
    if len(steps) < 2:
        return None
    first, second = steps[0], steps[1]
    if second.get("min_price") != first.get("min_price"):
        return "priciest"
    if second.get("max_price") != first.get("max_price"):
        return "cheapest"
    return None


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


def _ties(args: Mapping[str, Any]) -> bool:
    """Whether a step asked for one price exactly (the last step, listing the products at the end)."""
    return args.get("min_price") is not None and args.get("min_price") == args.get("max_price")


def next_search(pick: str, results: Sequence[Result]) -> Call | None:
    """The next step: beyond the end found so far (exclusive), or, once that finds nothing, the
    products at that end exactly; ``None`` when done, nothing is in the range, or the steps are
    used up."""
    last = results[-1]
    if last.error is not None or len(results) >= MAX_STEPS or _ties(last.call.arguments):
        return None
    end = end_price(pick, last)
    args = dict(last.call.arguments)
    if end is not None:  # something beyond: look beyond it
        return Call(
            "search_products",
            args | ({"min_price": float(end + _STEP)} if pick == "priciest" else {"max_price": float(end - _STEP)}),
        )
    before = [r for r in results if end_price(pick, r) is not None]
    if not before:
        return None  # nothing in the range at all
    found = end_price(pick, before[-1])
    return Call("search_products", args | {"min_price": float(found or 0), "max_price": float(found or 0)})


def outcome(pick: str, results: Sequence[Result]) -> tuple[list[Mapping[str, Any]], bool]:
    """The products at the end price (ties together) and whether the steps proved it the end."""
    found = [r for r in results if end_price(pick, r) is not None]
    if not found:
        return [], True
    last = found[-1]
    end = end_price(pick, last)
    currency = str(last.call.arguments.get("currency") or "")
    at_end = [c for c in _cards(last) if _amount(c, currency) == end]
    return at_end, _ties(last.call.arguments)
