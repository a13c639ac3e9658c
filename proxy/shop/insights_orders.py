"""Money and customer questions: extreme purchases, revenue and average order value, repeat rate,
top customers. Same definitions as :mod:`proxy.shop.insights`."""

from __future__ import annotations

from typing import Any

from proxy.shop.insights import InsightError, Insights
from proxy.shop.money import fmt
from proxy.shop.source import missing_lines


async def extreme_purchase(
    ins: Insights, *, which: str = "largest", currency: str | None = None, limit: int = 1
) -> dict[str, Any]:
    """The cheapest (total above zero) or largest orders, with who bought them and what."""
    if which not in ("cheapest", "largest"):
        raise InsightError("which must be 'cheapest' or 'largest'")
    cur, found = await ins.currency(currency)
    order = "asc" if which == "cheapest" else "desc"
    rows = await ins.rows(
        "select o.id, o.number, o.total, o.created, o.customer_id, c.name, c.email,"
        " (select count(*) from orders t where t.currency = o.currency and t.total = o.total) as same_total"
        " from orders o left join customers c on c.id = o.customer_id"
        " where o.currency = %(cur)s"
        + (" and o.total > 0" if which == "cheapest" else "")
        + f" order by o.total {order}, o.created, o.id limit %(limit)s",
        cur=cur,
        limit=limit,
    )
    lines = await ins.rows(
        "select l.invoice_id, l.product_id, coalesce(p.name, l.description) as name, l.quantity, l.amount"
        " from lines l left join products p on p.id = l.product_id where l.invoice_id = any(%(ids)s)"
        " order by l.invoice_id, l.position, l.id",
        ids=[r["id"] for r in rows],
    )
    unknown = await missing_lines(ins.db, ins.data, products=False) if rows and not lines else None
    orders = []
    for r in rows:
        items = [
            {
                "product_id": li["product_id"],
                "name": li["name"],
                "quantity": int(li["quantity"]),
                "amount": fmt(li["amount"], cur),
            }
            for li in lines
            if li["invoice_id"] == r["id"]
        ]
        orders.append(
            {
                "invoice_id": r["id"],
                "number": r["number"],
                "total": fmt(r["total"], cur),
                "date": f"{r['created']:%Y-%m-%d}",
                "customer": {"id": r["customer_id"], "name": r["name"], "email": r["email"]},
                **({"items_unknown": unknown} if unknown else {"items": items[:10]}),
                "orders_with_the_same_total": r["same_total"],
            }
        )
    note = "orders with a zero total are left out" if which == "cheapest" else None
    return ins.frame(
        which=which, currency=cur, currencies_with_orders=found, orders=orders, **({"note": note} if note else {})
    )


async def revenue(ins: Insights, *, currency: str | None = None, by_month: bool = False) -> dict[str, Any]:
    """Revenue, order count and average order value (revenue / orders, rounded to the minor unit)."""
    cur, found = await ins.currency(currency)
    [row] = await ins.rows(
        "select count(*) as orders, coalesce(sum(total), 0) as revenue, round(avg(total)) as aov,"
        " count(distinct customer_id) as customers from orders where currency = %(cur)s",
        cur=cur,
    )
    out = ins.frame(
        currency=cur,
        currencies_with_orders=found,
        orders=row["orders"],
        customers=row["customers"],
        revenue=fmt(int(row["revenue"]), cur),
        average_order_value=fmt(int(row["aov"]), cur) if row["aov"] is not None else None,
    )
    if by_month:
        months = await ins.rows(
            "select to_char(date_trunc('month', created at time zone 'UTC'), 'YYYY-MM') as month, count(*) as orders,"
            " sum(total) as revenue from orders where currency = %(cur)s group by 1 order by 1",
            cur=cur,
        )
        out["by_month"] = [
            {"month": m["month"], "orders": m["orders"], "revenue": fmt(int(m["revenue"]), cur)} for m in months
        ]
    return out


async def repeat_rate(ins: Insights) -> dict[str, Any]:
    """Share of buying customers with two or more orders in the period."""
    [row] = await ins.rows(
        "select count(*) as buyers, count(*) filter (where n >= 2) as repeat_buyers from"
        " (select customer_id, count(*) as n from orders where customer_id is not null group by 1) x"
    )
    buyers, repeat = row["buyers"], row["repeat_buyers"]
    rate = round(100.0 * repeat / buyers, 1) if buyers else None
    return ins.frame(
        customers_with_orders=buyers,
        customers_with_two_or_more_orders=repeat,
        repeat_purchase_rate_percent=rate,
    )


RANKS = ("most", "least")


async def top_customers(
    ins: Insights, *, currency: str | None = None, rank: str = "most", limit: int = 10
) -> dict[str, Any]:
    """Customers with paid orders in one currency, by what they spent: from the most (``rank``
    "most") or from the least ("least"). Each says how many customers spent the same, so a reply
    never calls one of several equal spenders the only one."""
    if rank not in RANKS:
        raise InsightError("rank must be 'most' or 'least'")
    cur, found = await ins.currency(currency)
    order = "desc" if rank == "most" else "asc"
    rows = await ins.rows(
        ", spend as (select o.customer_id as id, max(c.name) as name, max(c.email) as email, count(*) as orders,"
        " sum(o.total) as spent from orders o left join customers c on c.id = o.customer_id"
        " where o.currency = %(cur)s and o.customer_id is not null group by 1),"
        " ranked as (select *, count(*) over (partition by spent) as same_spent, count(*) over () as ranked"
        " from spend)"
        f" select * from ranked order by spent {order}, id limit %(limit)s",
        cur=cur,
        limit=limit,
    )
    customers = [
        {
            "id": r["id"],
            "name": r["name"],
            "email": r["email"],
            "orders": r["orders"],
            "spent": fmt(int(r["spent"]), cur),
            "customers_with_the_same_spend": r["same_spent"],
        }
        for r in rows
    ]
    return ins.frame(
        currency=cur,
        currencies_with_orders=found,
        rank=f"{rank} spent first",
        customers_ranked=rows[0]["ranked"] if rows else 0,
        customers=customers,
    )
