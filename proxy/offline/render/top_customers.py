"""Customers by spend: the list (from the most spent, or from the least), the one who spent the
least of all, and follow-ups about a list just shown (who of them spent the least or the most,
how many orders they placed, what they spent between them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from proxy.offline.plan import Plan
from proxy.offline.render.common import count, join, numbered, text
from proxy.offline.render.order_sums import money_of

Row = Mapping[str, Any]
Data = Mapping[str, Any]


def _who(r: Row) -> str:
    return f"{text(r.get('name'))} ({text(r.get('email'))}, {text(r.get('id'))})"


def _spending(r: Row) -> str:
    return f"{text(r.get('spent'))} in {count(r.get('orders'), 'orders')}"


def _spent(r: Row) -> Decimal:
    money = money_of(r.get("spent"))
    return money[0] if money is not None else Decimal(0)


def _same(r: Row) -> int:
    value = r.get("customers_with_the_same_spend")
    return value if isinstance(value, int) else 1


def least_first(data: Data) -> bool:
    """Whether the insight ranked customers from the least spent up (``rank`` "least")."""
    return text(data.get("rank")).startswith("least")


def _of_all(data: Data, currency: str) -> str:
    ranked = data.get("customers_ranked")
    if not isinstance(ranked, int) or ranked <= 0:
        return ""
    unit = f" in {currency}" if currency else ""
    return f"of all {count(ranked, 'customers')} with paid orders{unit}"


def list_label(data: Data, rows: Sequence[Row], when: str) -> str:
    """What a list of customers by spend is: "our top 5 customers by spend" or "the 5 customers
    who spent the least"."""
    if least_first(data):
        return f"the {len(rows)} customers who spent the least{when}"
    return f"our top {len(rows)} customers by spend{when}"


def tie_note(rows: Sequence[Row]) -> str:
    """When the last row listed shares its spend with customers not listed, say how many."""
    if not rows:
        return ""
    last = rows[-1]
    listed = sum(1 for r in rows if _spent(r) == _spent(last))
    more = _same(last) - listed
    if more <= 0:
        return ""
    return f"\n\n{count(more, 'more customers')} also spent {text(last.get('spent'))}."


def end_of_all(data: Data, rows: Sequence[Row], when: str) -> str:
    """The customer who spent the least of all (``rows`` ranked from the least up) or the most (from
    the most down), and those who spent just as much."""
    most = not least_first(data)
    which = "the most" if most else "the least"
    currency = text(data.get("currency")).upper()
    scope = _of_all(data, currency)
    end = rows[0]
    tied = [r for r in rows if _spent(r) == _spent(end)]
    same = max(_same(end), len(tied))
    where = f"{when} ({scope})" if scope else when
    if same == 1:
        line = f"{_who(end)} spent {which}{where}: {_spending(end)}."
    else:
        names = [_who(r) for r in tied]
        unlisted = same - len(tied)
        if unlisted > 0:
            names.append(count(unlisted, "more"))
        line = f"{same} customers tie for {which} spent{where}, {text(end.get('spent'))} each: {join(names)}."
    after = [r for r in rows if _spent(r) != _spent(end)][:3]
    if after:
        line += f"\n\nNext from the {'top' if most else 'bottom'}:\n"
        line += numbered(f"{_who(r)}: {_spending(r)}" for r in after)
        line += tie_note(after)
    return line


def about_shown(plan: Plan, data: Data, rows: Sequence[Row], when: str) -> str:
    """A pick or a tally of the customers shown, ``rows`` in the order they were listed."""
    them = list_label(data, rows, when)
    if plan.slots.tally:
        orders = sum(r["orders"] for r in rows if isinstance(r.get("orders"), int))
        placed = f"{them[:1].upper()}{them[1:]} placed {count(orders, 'orders')} between them"
        if plan.slots.tally == "count":
            return placed + "."
        totals = [money_of(r.get("spent")) for r in rows]
        found = [m for m in totals if m is not None]
        if not found or len({m[1] for m in found}) > 1:
            return placed + "."
        places = max(m[2] for m in found)
        return f"{placed} and spent {sum(m[0] for m in found):.{places}f} {found[0][1]} in all."
    if plan.slots.pick == "priciest":
        return _end_of_shown(them, rows, max(_spent(r) for r in rows), "the most")
    if least_first(data):  # the least of a list from the least up is the least of all
        return end_of_all(data, rows, when)
    answer = _end_of_shown(them, rows, min(_spent(r) for r in rows), "the least")
    return answer + ' Ask "who spent the least overall?" for the lowest spenders of all customers.'


def _end_of_shown(them: str, rows: Sequence[Row], amount: Decimal, which: str) -> str:
    tied = [r for r in rows if _spent(r) == amount]
    if len(tied) == 1:
        return f"Of {them}, {_who(tied[0])} spent {which}: {_spending(tied[0])}."
    names = join([_who(r) for r in tied])
    return f"Of {them}, {len(tied)} spent {which}, {text(tied[0].get('spent'))} each: {names}."
