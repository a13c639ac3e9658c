"""One renderer per shop_insights answer: best sellers, bought together, second product, the
cheapest / largest purchase, revenue, repeat-purchase rate, top customers."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from proxy.offline.plan import Plan
from proxy.offline.render.common import MAX_ITEMS, bullets, count, join, numbered, period_text, text
from proxy.offline.render.top_customers import about_shown, end_of_all, least_first, tie_note

Data = Mapping[str, Any]
_HOW_MANY_CUSTOMERS = re.compile(r"\bhow many (?:customers|clients|buyers)\b|\bnumber of (?:customers|buyers)\b", re.I)


def _limit(plan: Plan) -> int:
    return plan.slots.limit or MAX_ITEMS


def _shown(plan: Plan) -> int:
    """How many rows the answer lists: those asked for, in this message or the one it follows."""
    asked = next((c.arguments.get("limit") for c in plan.calls if isinstance(c.arguments.get("limit"), int)), None)
    return plan.slots.limit or asked or MAX_ITEMS


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _rows(data: Data, key: str) -> list[Mapping[str, Any]]:
    return [r for r in data.get(key) or [] if isinstance(r, Mapping)]


def _other_currencies(data: Data) -> tuple[str, list[str]]:
    """The answer's currency and the shop's other currencies with orders (counted separately)."""
    currency = text(data.get("currency")).upper()
    return currency, [text(c).upper() for c in data.get("currencies_with_orders") or [] if text(c).upper() != currency]


def _currency_note(data: Data) -> str:
    currency, others = _other_currencies(data)
    if not currency:
        return ""
    note = f"\n\nAmounts are in {currency}"
    return note + (f"; orders in {join(others)} are counted separately." if others else ".")


def _others_note(data: Data) -> str:
    """ " Orders in USD are counted separately." when the shop has orders in other currencies."""
    currency, others = _other_currencies(data)
    return f" Orders in {join(others)} are counted separately." if currency and others else ""


def best_sellers(plan: Plan, data: Data) -> str:
    rows = _rows(data, "products")
    when = period_text(data)
    if not rows:
        return f"There were no paid orders{when}, so there are no best sellers to show."
    by_revenue = data.get("ranked_by") == "revenue"

    def line(r: Mapping[str, Any]) -> str:
        facts = f"{count(r.get('units'), 'units')} in {count(r.get('orders'), 'orders')}"
        if by_revenue and r.get("revenue"):
            facts = f"{r['revenue']} from " + facts
        return f"{text(r.get('name'))} ({text(r.get('id'))}): {facts}"

    basis = "revenue" if by_revenue else "units sold"
    head = f"Our best sellers by {basis}{when} (paid orders):"
    return head + "\n" + numbered(line(r) for r in rows[: _limit(plan)]) + (_currency_note(data) if by_revenue else "")


def bought_together(plan: Plan, data: Data) -> str:
    when = period_text(data)
    if "pairs_bought_in_the_same_order" in data:
        pairs = _rows(data, "pairs_bought_in_the_same_order")
        if not pairs:
            return f"No two products were bought in the same order{when}."
        lines = []
        for p in pairs[: _limit(plan)]:
            names = [
                f"{text(x.get('name'))} ({text(x.get('id'))})"
                for x in p.get("products") or []
                if isinstance(x, Mapping)
            ]
            lines.append(f"{join(names)}: together in {count(p.get('orders'), 'orders')}")
        return f"The products most often bought together{when}:\n" + numbered(lines)
    product = _map(data.get("product"))
    name = f"{text(product.get('name'))} ({text(product.get('id'))})"
    companions = _rows(data, "most_often_in_the_same_order")
    if not companions:
        return f"{name} was not bought together with another product{when}."
    lines = [f"{text(c.get('name'))} ({text(c.get('id'))}): in {count(c.get('orders'), 'orders')}" for c in companions]
    head = f"{name} is in {count(data.get('orders_with_product'), 'paid orders')}{when}"
    head += "; the products most often in the same order:"
    return head + "\n" + numbered(lines[: _limit(plan)])


def second_product(plan: Plan, data: Data) -> str:
    rows = _rows(data, "second_products")
    when = period_text(data)
    meaning = text(data.get("meaning"))
    first = _map(data.get("first_product")) or None
    after = f" after {text(first.get('name'))} ({text(first.get('id'))})" if first else ""
    if not rows:
        return f"There is no second product to report{after}{when}."
    lines = [
        f"{text(r.get('name'))} ({text(r.get('id'))}): {count(r.get('count'), 'times')}" for r in rows[: _limit(plan)]
    ]
    counted = f" ({text(data.get('groups_counted'))} counted; {meaning})" if meaning else ""
    return f"The most common second products{after}{when}{counted}:\n" + numbered(lines)


def extreme_purchase(plan: Plan, data: Data) -> str:
    orders = _rows(data, "orders")
    which = "cheapest" if data.get("which") == "cheapest" else "largest"
    when = period_text(data)
    if not orders:
        return f"There were no paid orders{when} to compare."
    o = orders[0]
    customer = _map(o.get("customer"))
    buyer = text(customer.get("name")) or "a customer without a name"
    if customer.get("email"):
        buyer += f" ({customer['email']}, {text(customer.get('id'))})"
    items = [
        f"{text(i.get('quantity'))} × {text(i.get('name'))} ({text(i.get('product_id'))}), {text(i.get('amount'))}"
        for i in o.get("items") or []
        if isinstance(i, Mapping)
    ]
    line = (
        f"The {which} purchase{when} was order {text(o.get('number'))} ({text(o.get('invoice_id'))}) on "
        f"{text(o.get('date'))}: {text(o.get('total'))}, by {buyer}. They bought {join(items)}."
    )
    same = o.get("orders_with_the_same_total")
    if isinstance(same, int) and same > 1:
        line += f" {same} orders have this same total; this is the earliest of them."
    if which == "cheapest" and data.get("note"):
        line += " Orders with a zero total are left out."
    return line + _currency_note(data)


def revenue(plan: Plan, data: Data) -> str:
    when = period_text(data)
    if not data.get("orders"):
        return f"There were no paid orders{when}." + _currency_note(data)
    if plan.slots.tally == "count":  # "how many orders was that?": the count first, the amount after it
        return f"{count(data.get('orders'), 'paid orders')}{when}, {text(data.get('revenue'))}." + _others_note(data)
    line = (
        f"Revenue{when}: {text(data.get('revenue'))} from {count(data.get('orders'), 'paid orders')} by "
        f"{count(data.get('customers'), 'customers')}; the average order value is"
        f" {text(data.get('average_order_value'))}."
    )
    months = _rows(data, "by_month")
    if months:
        line += "\n" + bullets(
            f"{text(m.get('month'))}: {text(m.get('revenue'))} from {count(m.get('orders'), 'orders')}" for m in months
        )
    return line + _currency_note(data)


def repeat_rate(plan: Plan, data: Data) -> str:
    when = period_text(data)
    rate = data.get("repeat_purchase_rate_percent")
    if rate is None:
        return f"No customer placed a paid order{when}, so there is no repeat purchase rate."
    again, buyers = text(data.get("customers_with_two_or_more_orders")), text(data.get("customers_with_orders"))
    if _HOW_MANY_CUSTOMERS.search(plan.slots.text):  # the count asked for first, the rate after it
        return (
            f"{count(buyers, 'customers')} placed paid orders{when}; {again} of them ({rate}%) ordered two or more"
            " times."
        )
    return (
        f"The repeat purchase rate{when} is {rate}%: {again} of {buyers} customers with paid orders ordered two or"
        " more times."
    )


def top_customers(plan: Plan, data: Data) -> str:
    rows = _rows(data, "customers")
    when = period_text(data)
    if not rows:
        return f"No customer placed a paid order{when}."
    if plan.slots.pick or plan.slots.tally:  # "and the cheapest one?", "how many orders was that?"
        if plan.slots.pick == ("cheapest" if least_first(data) else "priciest") and not plan.slots.tally:
            return end_of_all(data, rows, when) + _currency_note(data)  # the first row is the end of all
        shown = rows[: _shown(plan)] if plan.followup else rows  # nothing shown before: all those found
        return about_shown(plan, data, shown, when) + _currency_note(data)
    lines = [
        f"{text(r.get('name'))} ({text(r.get('email'))}, {text(r.get('id'))}): {text(r.get('spent'))} in "
        f"{count(r.get('orders'), 'orders')}"
        for r in rows[: _limit(plan)]
    ]
    if least_first(data):
        scope = _ranked_scope(data)
        head = f"The customers who spent the least{when}{scope}, from the least up:"
    else:
        head = f"Our top customers by spend{when}:"
    return head + "\n" + numbered(lines) + tie_note(rows[: _limit(plan)]) + _currency_note(data)


def _ranked_scope(data: Data) -> str:
    ranked = data.get("customers_ranked")
    currency = text(data.get("currency")).upper()
    unit = f" in {currency}" if currency else ""
    if not isinstance(ranked, int) or not ranked:
        return ""
    return f" (of the {count(ranked, 'customers')} with paid orders{unit})"


def insight_renderer(data: Data) -> Callable[[Plan, Data], str] | None:
    """The renderer for an insight answer, recognised by its keys."""
    if "ranked_by" in data:
        return best_sellers
    if "pairs_bought_in_the_same_order" in data or "most_often_in_the_same_order" in data:
        return bought_together
    if "second_products" in data:
        return second_product
    if data.get("which") in ("cheapest", "largest") and "orders" in data:
        return extreme_purchase
    if "average_order_value" in data:
        return revenue
    if "repeat_purchase_rate_percent" in data:
        return repeat_rate
    if isinstance(data.get("customers"), list) and (
        "currencies_with_orders" in data or any(isinstance(c, Mapping) and "spent" in c for c in data["customers"])
    ):  # a period without orders has no rows to tell it by
        return top_customers
    return None
