"""A follow-up about the orders just shown: their cheapest or dearest order (and item), what they
come to in all, how many they are ("and the cheapest one?", "how much in total?"). Sums and
comparisons are made per currency, from the totals the tool returned."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from proxy.offline.render.common import count, join, text

Order = Mapping[str, Any]
_AMOUNT = re.compile(r"^\s*(?P<amount>-?\d+(?:\.(?P<cents>\d+))?)\s+(?P<cur>[A-Za-z]{3})\s*$")


def money_of(value: Any) -> tuple[Decimal, str, int] | None:
    """("150.98 EUR") -> (150.98, "EUR", 2 decimals)."""
    match = _AMOUNT.match(text(value))
    if match is None:
        return None
    return Decimal(match.group("amount")), match.group("cur").upper(), len(match.group("cents") or "")


def _sums(orders: Sequence[Order]) -> str:
    """The orders' totals added up per currency: "301.96 EUR and 20.99 USD"."""
    sums: dict[str, tuple[Decimal, int]] = {}
    for o in orders:
        if (money := money_of(o.get("total"))) is not None:
            amount, currency, places = money
            before, most = sums.get(currency, (Decimal(0), 0))
            sums[currency] = (before + amount, max(most, places))
    return join([f"{amount:.{places}f} {currency}" for currency, (amount, places) in sums.items()])


def _item_line(item: Mapping[str, Any], unit: Decimal, currency: str, places: int) -> str:
    line = f"{text(item.get('name'))}"
    if item.get("product_id"):
        line += f" ({item['product_id']})"
    quantity = item.get("quantity")
    if isinstance(quantity, int) and quantity > 1:
        return f"{line}, {unit:.{places}f} {currency} each ({quantity} for {text(item.get('amount'))})"
    return f"{line}, {text(item.get('amount'))}"


def _end_item(orders: Sequence[Order], cheapest: bool) -> str:
    """The cheapest (or dearest) item by unit price in ``orders``, in the currency of the first one."""
    found: list[tuple[Decimal, int, str]] = []
    currency = ""
    for index, o in enumerate(orders):
        for item in o.get("items") or []:
            money = money_of(item.get("amount")) if isinstance(item, Mapping) else None
            quantity = item.get("quantity") if isinstance(item, Mapping) else None
            if money is None or not isinstance(quantity, int) or quantity < 1:
                continue
            amount, code, places = money
            currency = currency or code
            if code == currency:
                unit = amount / quantity
                found.append((unit, index, _item_line(item, unit, code, places)))
    if not found:
        return ""
    pick = min(found, key=lambda f: (f[0], f[1])) if cheapest else min(found, key=lambda f: (-f[0], f[1]))
    name = pick[2].partition(",")[0]
    same = [n for n in dict.fromkeys(line.partition(",")[0] for unit, _, line in found if unit == pick[0]) if n != name]
    return pick[2] + (f"; {join(same)} {'cost' if len(same) > 1 else 'costs'} the same" if same else "")


def _end_order(orders: Sequence[Order], cheapest: bool) -> tuple[Order, int, str]:
    """The cheapest (or dearest) order by total among those in the newest one's currency: the order,
    how many have its total, and the currency when the orders are in more than one."""
    priced = [(m, o) for o in orders if (m := money_of(o.get("total"))) is not None]
    currency = priced[0][0][1]
    same = [(m[0], o) for m, o in priced if m[1] == currency]
    end = min(a for a, _ in same) if cheapest else max(a for a, _ in same)
    ties = [o for a, o in same if a == end]
    mixed = currency if len({m[1] for m, _ in priced}) > 1 else ""
    return ties[0], len(ties), mixed


def _capital(words: str) -> str:
    return words[:1].upper() + words[1:]


def pick_answer(orders: Sequence[Order], cheapest: bool, whose: str, when: str, line: Any, more: bool = False) -> str:
    """The cheapest (or dearest) of ``orders`` and the cheapest (or dearest) item in them. ``when``
    is "" or " in March 2026"; ``line`` writes one order (the renderer's order line)."""
    which = "cheapest" if cheapest else "most expensive"
    scope = f"{whose} {len(orders)} most recent orders{when}" if more else f"{whose} orders{when}"
    priced = [o for o in orders if money_of(o.get("total")) is not None]
    if not priced:
        return f"I can't compare {scope}: they come without totals."
    if len(priced) == 1:
        order = priced[0]
        head = f"{_capital(whose)} only order{when} is {line(order)}."
    else:
        order, ties, mixed = _end_order(priced, cheapest)
        among = f" in {mixed}" if mixed else ""
        head = f"The {which} of {scope} ({len(priced)}{among}) is {line(order)}."
        if ties > 1:
            head += f" {ties} of them have this same total; this is the newest."
    item = _end_item([order] if len(priced) == 1 else priced, cheapest)
    where = "in it" if len(priced) == 1 else "in them"
    return head + (f"\n\nThe {which} item {where}: {item}." if item else "")


def one_total(order: Order, whose: str) -> str:
    """What one order comes to ("how much in total?" after the last order), its status when unpaid."""
    number = text(order.get("number")) or text(order.get("invoice_id"))
    status = text(order.get("status"))
    unpaid = f" ({status}, not paid)" if status and status != "paid" else ""
    return f"{_capital(whose)} last order, {number}, comes to {text(order.get('total'))}{unpaid}."


def tally_answer(
    orders: Sequence[Order], tally: str, who: str, whose: str, when: str, all_count: Any = None, more: bool = False
) -> str:
    """How many orders, or what they come to: paid ones added up, the others named and left out."""
    paid = [o for o in orders if text(o.get("status")) == "paid"]
    others = [o for o in orders if text(o.get("status")) != "paid"]
    statuses = join(sorted({text(o.get("status")) or "unknown" for o in others}))
    caveat = f" (the {len(orders)} most recent I can see; older ones are not shown here)" if more else ""
    if tally == "count":
        if all_count is not None and not when:  # all of them: the tool's count, not only those shown
            return f"{who} {count(all_count, 'orders')}."
        split = f": {len(paid)} paid, {len(others)} {statuses}" if others else ""
        return f"{who} {count(len(orders), 'orders')}{when}{split}{caveat}."
    if not paid:
        return f"None of {whose} {count(len(orders), 'orders')}{when} is paid ({statuses}), so they come to nothing."
    line = (
        f"{whose[:1].upper()}{whose[1:]} paid orders{when} come to {_sums(paid)} in all ({count(len(paid), 'orders')})"
    )
    if others:
        line += f"; {count(len(others), 'more orders')} ({statuses}, {_sums(others)}) are not counted"
    return line + caveat + "."
