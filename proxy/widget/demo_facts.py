"""What the demo pages show, read from the shop's data at request time (so it is always true).

The best sellers are the ones ``shop_insights`` reports (units on paid invoice lines); the signed-in
customer's orders and the staff page's figures come from the same relations the tools read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg import sql

from proxy.shop.insights import Insights
from proxy.shop.money import fmt
from proxy.shop.source import ShopData

if TYPE_CHECKING:
    from proxy.store.db import Database

# The demo's signed-in customer on /demo/account: four paid orders, one of them in March 2026.
DEMO_CUSTOMER_ID = "cus_demo00179"
STAFF_USER = ("staff-demo", "staff@northwind.example")


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    name: str
    description: str
    category: str | None
    price: str | None  # "189.99 EUR"
    units: int


@dataclass(frozen=True, slots=True)
class ShopFacts:
    products: int
    departments: list[tuple[str, int]]
    best_sellers: list[Product]
    first_order: datetime | None
    last_order: datetime | None


@dataclass(frozen=True, slots=True)
class Order:
    number: str
    created: datetime
    status: str
    total: str | None
    items: int


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str
    email: str
    created: datetime | None
    orders: int
    recent: list[Order] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StaffFacts:
    products: int
    customers: int
    paid_orders: int
    currencies: list[str]
    first_order: datetime | None
    last_order: datetime | None


async def _rows(db: Database, data: ShopData, body: str, **params: Any) -> list[dict[str, Any]]:
    return await db.fetch_all(sql.SQL("{rel} ").format(rel=data.relations()) + sql.SQL(body), params)


async def _paid_period(db: Database, data: ShopData) -> tuple[datetime | None, datetime | None]:
    [row] = await _rows(db, data, "select min(created) as a, max(created) as b from invoices where status = 'paid'")
    return row["a"], row["b"]


async def shop_facts(db: Database, data: ShopData, best: int = 4) -> ShopFacts:
    """The catalogue's size and departments, and the ``best`` best sellers by units (as the tool ranks them)."""
    ranked = (await Insights(db, data).best_sellers(by="units", limit=best))["products"]
    details = await _rows(
        db,
        data,
        "select p.id, p.description, p.category, pr.unit_amount, pr.currency from products p"
        " left join lateral (select unit_amount, currency from prices where product_id = p.id and active"
        " and recurring is null order by (currency = 'eur') desc, unit_amount limit 1) pr on true"
        " where p.id = any(%(ids)s)",
        ids=[item["id"] for item in ranked],
    )
    by_id = {row["id"]: row for row in details}
    products = []
    for item in ranked:
        more = by_id.get(item["id"], {})
        products.append(
            Product(
                id=item["id"],
                name=item["name"],
                description=more.get("description") or "",
                category=more.get("category"),
                price=fmt(more.get("unit_amount"), more.get("currency")),
                units=item["units"],
            )
        )
    departments = await _rows(
        db,
        data,
        "select coalesce(category, 'Other') as category, count(*) as n from products where active"
        " group by 1 order by 1",
    )
    first, last = await _paid_period(db, data)
    return ShopFacts(
        products=sum(int(r["n"]) for r in departments),
        departments=[(r["category"], int(r["n"])) for r in departments],
        best_sellers=products,
        first_order=first,
        last_order=last,
    )


async def customer_facts(db: Database, data: ShopData, customer_id: str, recent: int = 3) -> Customer | None:
    found = await _rows(db, data, "select id, name, email, created from customers where id = %(id)s", id=customer_id)
    if not found:
        return None
    orders = await _rows(
        db,
        data,
        "select i.number, i.created, i.status, i.total, i.currency,"
        " (select coalesce(sum(l.quantity), 0) from lines l where l.invoice_id = i.id) as items,"
        " count(*) over () as n from invoices i where i.customer_id = %(id)s order by i.created desc, i.id",
        id=customer_id,
    )
    row = found[0]
    return Customer(
        id=row["id"],
        name=row["name"] or row["email"],
        email=row["email"],
        created=row["created"],
        orders=int(orders[0]["n"]) if orders else 0,
        recent=[
            Order(o["number"] or "", o["created"], o["status"], fmt(o["total"], o["currency"]), int(o["items"]))
            for o in orders[:recent]
        ],
    )


async def staff_facts(db: Database, data: ShopData) -> StaffFacts:
    [counts] = await _rows(
        db,
        data,
        "select (select count(*) from products where active) as products,"
        " (select count(*) from customers) as customers,"
        " (select count(*) from invoices where status = 'paid') as paid,"
        " (select coalesce(array_agg(distinct currency), '{}') from invoices where status = 'paid') as currencies",
    )
    first, last = await _paid_period(db, data)
    return StaffFacts(
        products=int(counts["products"]),
        customers=int(counts["customers"]),
        paid_orders=int(counts["paid"]),
        currencies=sorted(c.upper() for c in counts["currencies"] if c),
        first_order=first,
        last_order=last,
    )
