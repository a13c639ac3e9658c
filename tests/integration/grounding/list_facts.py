"""Facts for the follow-ups about a list just shown (the grounding customer's orders, the top
customers, the cheapest purchase of March), computed with SQL written here."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tests.integration.grounding.facts import MARCH, money

if TYPE_CHECKING:
    from proxy.store.db import Database
    from tests.integration.grounding.facts import Facts

TOP_SHOWN = 5  # the top customers a reply lists when no number is asked for


async def load_list_facts(db: Database, tenant: str, facts: Facts) -> None:
    orders = await db.fetch_all(
        "select id, number, created, status, total, currency from shop_invoices where tenant = %s"
        " and customer_id = %s order by created desc, id",
        (tenant, facts.customer["id"]),
    )
    assert len({o["currency"] for o in orders}) == 1, "the demo shop changed: the customer pays in one currency"
    lines = await db.fetch_all(
        "select l.invoice_id, p.name, l.quantity, l.amount from shop_invoice_lines l"
        " join shop_products p on p.tenant = l.tenant and p.id = l.product_id"
        " where l.tenant = %s and l.invoice_id = any(%s) order by l.invoice_id, l.position",
        (tenant, [o["id"] for o in orders]),
    )
    facts.customer_orders = [
        {
            "number": o["number"],
            "month": f"{o['created'].astimezone(UTC):%Y-%m}",
            "paid": o["status"] == "paid",
            "total": o["total"],
            "total_text": money(o["total"], o["currency"]),
            "currency": o["currency"],
            # each item with its unit price: a line of several units is compared by what one costs
            "items": [
                (li["name"], Decimal(li["amount"]) / li["quantity"]) for li in lines if li["invoice_id"] == o["id"]
            ],
        }
        for o in orders
    ]
    rows = await db.fetch_all(
        "select c.id, c.name, sum(i.total) as spent, count(*) as orders from shop_invoices i"
        " join shop_customers c on c.tenant = i.tenant and c.id = i.customer_id"
        " where i.tenant = %s and i.status = 'paid' and i.currency = %s group by c.id, c.name"
        " order by spent desc, c.id limit %s",
        (tenant, facts.currency, TOP_SHOWN),
    )
    facts.top_shown = [dict(r) | {"spent_text": money(int(r["spent"]), facts.currency)} for r in rows]
    facts.least_spenders = await _least_spenders(db, tenant, facts.currency)
    facts.least_spenders_march = await _least_spenders(db, tenant, facts.currency, MARCH)
    rows = await db.fetch_all(
        "select p.id, p.name, r.unit_amount from shop_products p join shop_prices r on r.tenant = p.tenant"
        " and r.product_id = p.id and r.active and r.currency = 'usd' where p.tenant = %s and p.active"
        " and not p.deleted and r.unit_amount <= 2000 and r.unit_amount = (select max(r2.unit_amount)"
        " from shop_prices r2 join shop_products p2 on p2.tenant = r2.tenant and p2.id = r2.product_id"
        " where r2.tenant = %s and r2.active and r2.currency = 'usd' and r2.unit_amount <= 2000 and p2.active"
        " and not p2.deleted) order by p.id",
        (tenant, tenant),
    )
    assert rows, "the demo shop changed: products at or under 20 USD"
    facts.dearest_under_20_usd = [dict(r) | {"price_text": money(r["unit_amount"], "usd")} for r in rows]
    row = await db.fetch_one(
        "select number, total from shop_invoices where tenant = %s and status = 'paid' and currency = %s"
        " and total > 0 and created >= %s and created < %s order by total, created, id limit 1",
        (tenant, facts.currency, *MARCH),
    )
    assert row is not None
    facts.cheapest_march = {"number": row["number"], "total_text": money(row["total"], facts.currency)}


async def _least_spenders(
    db: Database, tenant: str, currency: str, period: tuple[Any, Any] | None = None
) -> list[dict[str, Any]]:
    """The customers who spent the least (in paid orders in ``currency``, within ``period``), with
    how many customers were ranked."""
    within = " and i.created >= %s and i.created < %s" if period else ""
    rows = await db.fetch_all(
        "with spend as (select c.id, c.name, c.email, sum(i.total) as spent from shop_invoices i"
        " join shop_customers c on c.tenant = i.tenant and c.id = i.customer_id"
        f" where i.tenant = %s and i.status = 'paid' and i.currency = %s{within} group by c.id, c.name, c.email)"
        " select id, name, email, spent, (select count(*) from spend) as ranked from spend"
        " where spent = (select min(spent) from spend) order by id",
        (tenant, currency, *(period or ())),
    )
    return [dict(r) | {"spent_text": money(int(r["spent"]), currency)} for r in rows]


def ends(orders: list[dict[str, Any]], cheapest: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The numbers of the cheapest (or dearest) of ``orders`` and the names of their cheapest (or
    dearest) items, any one of which a reply may name (ties)."""
    end = (min if cheapest else max)(o["total"] for o in orders)
    units = [unit for o in orders for _, unit in o["items"]]
    unit_end = (min if cheapest else max)(units)
    names = tuple(name for o in orders for name, unit in o["items"] if unit == unit_end)
    return tuple(o["number"] for o in orders if o["total"] == end), names
