"""A follow-up about the top customers just shown: who of them spent the least or the most, how
many orders they placed, what they spent between them. The insight ranks customers from the most
spent down, so the least is the least of those shown, and the answer says so."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from proxy.offline.plan import Plan
from proxy.offline.render.common import count, text
from proxy.offline.render.order_sums import money_of

Row = Mapping[str, Any]
_FURTHER = 10  # the rows a shop returns by default: a list shorter than this can be asked for longer


def _who(r: Row) -> str:
    return f"{text(r.get('name'))} ({text(r.get('email'))}, {text(r.get('id'))})"


def _spending(r: Row) -> str:
    return f"{text(r.get('spent'))} in {count(r.get('orders'), 'orders')}"


def _spent(r: Row) -> Decimal:
    money = money_of(r.get("spent"))
    return money[0] if money is not None else Decimal(0)


def about_top_customers(plan: Plan, rows: Sequence[Row], when: str) -> str:
    """``rows`` are the customers shown, most spent first; ``when`` is "" or " from ... to ..."."""
    them = f"our top {len(rows)} customers by spend{when}"
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
        top = max(rows, key=_spent)
        return f"Of {them}, {_who(top)} spent the most: {_spending(top)}."
    least = min(reversed(rows), key=_spent)
    limits = "The shop's figures rank customers from the most spent down, so I can't name who spent the least of all"
    limits += " customers."
    more = ' Ask for the "top 10 customers" to see further down the list.' if len(rows) < _FURTHER else ""
    answer = f"Of {them}, {_who(least)} spent the least: {_spending(least)}."
    if not plan.followup:  # asked first: what the figures can say comes first
        return f"{limits} {answer}{more}"
    return f"{answer} {limits}{more}"
