"""The truth about the demo shop, computed with SQL (and plain Python over SQL rows) written here:
nothing is asked of the shop tools or the model."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from proxy.store.db import Database

MARCH = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


def money(minor: int, currency: str) -> str:
    return f"{minor / 100:.2f} {currency.upper()}"


@dataclass
class Product:
    id: str
    name: str
    eur: int | None = None
    usd: int | None = None


@dataclass
class Facts:
    currency: str = "eur"
    best_units: tuple[str, int] = ("", 0)
    best_units_march: tuple[str, int] = ("", 0)
    best_revenue: tuple[str, str] = ("", "")
    best_revenue_march: tuple[str, str] = ("", "")
    top_pair: tuple[str, str, int] = ("", "", 0)
    second_product: tuple[str, int] = ("", 0)
    cheapest: dict[str, Any] = field(default_factory=dict)
    largest: dict[str, Any] = field(default_factory=dict)
    revenue_march: tuple[str, int] = ("", 0)
    revenue_april: tuple[str, int] = ("", 0)
    revenue_all: tuple[str, int] = ("", 0)
    repeat_rate: str = ""
    buyers: int = 0
    revenue_march_usd: str = ""
    revenue_march_usd_orders: int = 0
    top_customer: dict[str, Any] = field(default_factory=dict)
    companions: dict[str, dict[str, str]] = field(default_factory=dict)
    unique_customer: dict[str, Any] = field(default_factory=dict)
    revenue_november: int = -1
    customers_named: dict[str, list[str]] = field(default_factory=dict)
    customer: dict[str, Any] = field(default_factory=dict)
    products: dict[str, list[Product]] = field(default_factory=dict)
    shop_ends: dict[str, tuple[list[Product], str]] = field(default_factory=dict)
    product_one: dict[str, Any] = field(default_factory=dict)
    customer_orders: list[dict[str, Any]] = field(default_factory=list)
    top_shown: list[dict[str, Any]] = field(default_factory=list)
    cheapest_march: dict[str, Any] = field(default_factory=dict)
    least_spenders: list[dict[str, Any]] = field(default_factory=list)
    dearest_under_20_usd: list[dict[str, Any]] = field(default_factory=list)
    least_spenders_march: list[dict[str, Any]] = field(default_factory=list)


_PAID_LINES = (
    "select l.invoice_id, l.position, l.product_id, l.quantity, l.amount, l.currency, i.created, i.customer_id"
    " from shop_invoice_lines l join shop_invoices i on i.tenant = l.tenant and i.id = l.invoice_id"
    " where l.tenant = %s and i.status = 'paid' and l.product_id is not null"
)
_WORDS_SQL = (
    "select p.id, p.name,"
    " (select min(unit_amount) from shop_prices r where r.tenant = p.tenant and r.product_id = p.id"
    "  and r.currency = 'eur' and r.active) as eur,"
    " (select min(unit_amount) from shop_prices r where r.tenant = p.tenant and r.product_id = p.id"
    "  and r.currency = 'usd' and r.active) as usd"
    " from shop_products p where p.tenant = %s and p.active and not p.deleted and"
    " lower(p.name || ' ' || coalesce(p.description, '') || ' ' || coalesce(p.metadata->>'category', ''))"
    " ~ all(%s) order by p.id"
)


async def products_with(db: Database, tenant: str, *prefixes: str) -> list[Product]:
    """Active products whose name, description or category has each word (or its plural)."""
    rows = await db.fetch_all(_WORDS_SQL, (tenant, [rf"\m{p}(s|es)?\M" for p in prefixes]))
    return [Product(r["id"], r["name"], r["eur"], r["usd"]) for r in rows]


async def _names(db: Database, tenant: str) -> dict[str, str]:
    rows = await db.fetch_all("select id, name from shop_products where tenant = %s", (tenant,))
    return {r["id"]: r["name"] for r in rows}


async def _shop_end(db: Database, tenant: str, end: str) -> tuple[list[Product], str]:
    """The active products whose lowest (``min``) or highest (``max``) active price, in any currency,
    is the shop's lowest or highest, and that price. The demo's currencies both have two decimals,
    so their amounts compare as stored."""
    assert end in ("min", "max")
    rows = await db.fetch_all(
        f"with ends as (select p.id, p.name, {end}(r.unit_amount) as amount, (array_agg(r.currency order by"
        f" r.unit_amount {'asc' if end == 'min' else 'desc'}))[1] as currency,"
        " min(r.unit_amount) filter (where r.currency = 'eur') as eur, min(r.unit_amount) filter (where r.currency ="
        " 'usd') as usd from shop_products p join shop_prices r on r.tenant = p.tenant and r.product_id = p.id and"
        " r.active and r.unit_amount is not null where p.tenant = %s and p.active and not p.deleted group by p.id,"
        f" p.name) select * from ends where amount = (select {end}(amount) from ends) order by id",
        (tenant,),
    )
    assert rows
    return [Product(r["id"], r["name"], r["eur"], r["usd"]) for r in rows], money(
        rows[0]["amount"], rows[0]["currency"]
    )


async def load_facts(db: Database, tenant: str) -> Facts:
    facts = Facts()
    names = await _names(db, tenant)
    lines = await db.fetch_all(_PAID_LINES, (tenant,))

    main = await db.fetch_one(
        "select currency, count(*) as n from shop_invoices where tenant = %s and status = 'paid'"
        " group by 1 order by 2 desc, 1 limit 1",
        (tenant,),
    )
    assert main is not None
    cur = facts.currency = main["currency"]

    units: Counter[str] = Counter()
    units_march: Counter[str] = Counter()
    revenue: Counter[str] = Counter()
    revenue_march: Counter[str] = Counter()
    by_invoice: dict[str, list[tuple[int, str]]] = {}
    for r in lines:
        units[r["product_id"]] += r["quantity"]
        if MARCH[0] <= r["created"] < MARCH[1]:
            units_march[r["product_id"]] += r["quantity"]
        if r["currency"] == cur:
            revenue[r["product_id"]] += r["amount"]
            if MARCH[0] <= r["created"] < MARCH[1]:
                revenue_march[r["product_id"]] += r["amount"]
        by_invoice.setdefault(r["invoice_id"], []).append((r["position"], r["product_id"]))

    def top(counter: Counter[str]) -> tuple[str, int]:
        best = min(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        return best

    pid, n = top(units)
    facts.best_units = (names[pid], n)
    pid, n = top(units_march)
    facts.best_units_march = (names[pid], n)
    pid, n = top(revenue)
    facts.best_revenue = (names[pid], money(n, cur))
    pid, n = top(revenue_march)
    facts.best_revenue_march = (names[pid], money(n, cur))

    pairs: Counter[tuple[str, str]] = Counter()
    seconds: Counter[str] = Counter()
    for items in by_invoice.values():
        distinct = sorted({p for _, p in items})
        for i, a in enumerate(distinct):
            for b in distinct[i + 1 :]:
                pairs[(a, b)] += 1
        first_seen: dict[str, int] = {}
        for position, product in sorted(items):
            first_seen.setdefault(product, position)
        ordered = sorted(first_seen, key=lambda p: (first_seen[p], p))
        if len(ordered) >= 2:
            seconds[ordered[1]] += 1
    (a, b), n = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
    facts.top_pair = (names[a], names[b], n)
    pid, n = top(seconds)
    facts.second_product = (names[pid], n)

    for which, order in (("cheapest", "asc"), ("largest", "desc")):
        row = await db.fetch_one(
            "select i.id, i.number, i.total, i.created, c.name, c.email,"
            " (select count(*) from shop_invoices t where t.tenant = i.tenant and t.status = 'paid'"
            "  and t.currency = i.currency and t.total = i.total) as same"
            " from shop_invoices i left join shop_customers c on c.tenant = i.tenant and c.id = i.customer_id"
            " where i.tenant = %s and i.status = 'paid' and i.currency = %s"
            + (" and i.total > 0" if which == "cheapest" else "")
            + f" order by i.total {order}, i.created, i.id limit 1",
            (tenant, cur),
        )
        assert row is not None
        items = await db.fetch_all(
            "select product_id from shop_invoice_lines where tenant = %s and invoice_id = %s order by position",
            (tenant, row["id"]),
        )
        data = dict(row) | {"total_text": money(row["total"], cur), "products": [names[i["product_id"]] for i in items]}
        if which == "cheapest":
            facts.cheapest = data
        else:
            facts.largest = data

    april = (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))
    for target, bounds in (("revenue_march", MARCH), ("revenue_april", april), ("revenue_all", None)):
        row = await db.fetch_one(
            "select coalesce(sum(total), 0) as revenue, count(*) as n from shop_invoices where tenant = %s"
            " and status = 'paid' and currency = %s"
            " and (%s::timestamptz is null or created >= %s) and (%s::timestamptz is null or created < %s)",
            (
                tenant,
                cur,
                *(2 * [bounds[0]] if bounds else [None, None]),
                *(2 * [bounds[1]] if bounds else [None, None]),
            ),
        )
        assert row is not None
        setattr(facts, target, (money(int(row["revenue"]), cur), row["n"]))

    row = await db.fetch_one(
        "select count(*) as buyers, count(*) filter (where n >= 2) as repeaters from (select customer_id, count(*) as n"
        " from shop_invoices where tenant = %s and status = 'paid' and customer_id is not null group by 1) x",
        (tenant,),
    )
    assert row is not None
    facts.repeat_rate = f"{round(100.0 * row['repeaters'] / row['buyers'], 1)}%"
    facts.buyers = row["buyers"]
    row = await db.fetch_one(
        "select coalesce(sum(total), 0) as revenue, count(*) as n from shop_invoices where tenant = %s"
        " and status = 'paid' and currency = 'usd' and created >= %s and created < %s",
        (tenant, *MARCH),
    )
    assert row is not None
    facts.revenue_march_usd = money(int(row["revenue"]), "usd")
    facts.revenue_march_usd_orders = row["n"]

    row = await db.fetch_one(
        "select c.id, c.name, c.email, sum(i.total) as spent, count(*) as orders from shop_invoices i"
        " join shop_customers c on c.tenant = i.tenant and c.id = i.customer_id"
        " where i.tenant = %s and i.status = 'paid' and i.currency = %s group by c.id, c.name, c.email"
        " order by spent desc, c.id limit 1",
        (tenant, cur),
    )
    assert row is not None
    paid = await db.fetch_one(
        "select count(*) as n from shop_invoices where tenant = %s and customer_id = %s and status = 'paid'",
        (tenant, row["id"]),
    )
    assert paid is not None
    facts.top_customer = dict(row) | {"spent_text": money(int(row["spent"]), cur), "paid_orders": paid["n"]}

    for key, words in (("tent", ("two-person", "tent")), ("yoga mat", ("yoga", "mat"))):
        facts.companions[key] = {}
        for product in await products_with(db, tenant, *words):
            companions: Counter[str] = Counter()
            for items in by_invoice.values():
                distinct = {p for _, p in items}
                if product.id in distinct:
                    for other in distinct - {product.id}:
                        companions[other] += 1
            if companions:
                facts.companions[key][product.name] = names[top(companions)[0]]

    row = await db.fetch_one(
        "select count(*) as n from shop_invoices where tenant = %s and status = 'paid'"
        " and created >= '2026-11-01T00:00:00Z' and created < '2026-12-01T00:00:00Z'",
        (tenant,),
    )
    assert row is not None
    facts.revenue_november = row["n"]

    row = await db.fetch_one(
        "select c.id, c.name, (select i.number from shop_invoices i where i.tenant = c.tenant"
        " and i.customer_id = c.id order by i.created desc, i.id limit 1) as newest"
        " from shop_customers c where c.tenant = %s and not c.deleted"
        " and (select count(*) from shop_customers d where d.tenant = c.tenant and lower(d.name) = lower(c.name)) = 1"
        " and exists (select 1 from shop_invoices i where i.tenant = c.tenant and i.customer_id = c.id)"
        " order by c.id limit 1",
        (tenant,),
    )
    assert row is not None
    facts.unique_customer = dict(row)

    for first in ("justin", "greta"):
        rows = await db.fetch_all(
            "select name from shop_customers where tenant = %s and not deleted and lower(name) like %s"
            " order by name, id",
            (tenant, f"%{first}%"),
        )
        facts.customers_named[first] = [r["name"] for r in rows]

    row = await db.fetch_one(
        "select c.id, c.email, c.name from shop_customers c where c.tenant = %s and not c.deleted"
        " and (select count(*) from shop_invoices i where i.tenant = c.tenant and i.customer_id = c.id) between 3 and 8"
        " and exists (select 1 from shop_invoices i where i.tenant = c.tenant and i.customer_id = c.id"
        "  and i.created >= %s and i.created < %s)"
        " and (select count(*) from shop_customers d where d.tenant = c.tenant and lower(d.email) = lower(c.email)) = 1"
        " order by c.id limit 1",
        (tenant, *MARCH),
    )
    assert row is not None
    newest = await db.fetch_one(
        "select number, created from shop_invoices where tenant = %s and customer_id = %s order by created desc, id"
        " limit 1",
        (tenant, row["id"]),
    )
    assert newest is not None
    bought = await db.fetch_one(
        "select p.name from shop_invoices i join shop_invoice_lines l on l.tenant = i.tenant and l.invoice_id = i.id"
        " join shop_products p on p.tenant = l.tenant and p.id = l.product_id"
        " where i.tenant = %s and i.customer_id = %s order by i.created desc, l.position limit 1",
        (tenant, row["id"]),
    )
    assert bought is not None
    march = await db.fetch_all(
        "select distinct p.name from shop_invoices i join shop_invoice_lines l on l.tenant = i.tenant"
        " and l.invoice_id = i.id join shop_products p on p.tenant = l.tenant and p.id = l.product_id"
        " where i.tenant = %s and i.customer_id = %s and i.created >= %s and i.created < %s order by 1",
        (tenant, row["id"], *MARCH),
    )
    facts.customer = dict(row) | {
        "newest_number": newest["number"],
        "newest_date": f"{newest['created'].astimezone(UTC):%Y-%m-%d}",
        "march_products": [r["name"] for r in march],
        "bought": bought["name"],
        # "Dune Espresso Machine Pro" -> "espresso machine": the kind of product, in the visitor's words
        "bought_kind": " ".join(bought["name"].removesuffix(" Pro").split()[1:]).lower(),
    }

    for key, prefixes in {
        "waterproof jacket": ("waterproof", "jacket"),
        "wireless headphones": ("wireless", "headphone"),
        "tents": ("tent",),
        "espresso machine": ("espresso", "machine"),
        "yoga mat": ("yoga", "mat"),
        "hiking backpack": ("hiking", "backpack"),
        "camping stove": ("camping", "stove"),
        "sleeping bag": ("sleeping", "bag"),
        "waterproof tent": ("waterproof", "tent"),
        "commuter backpack": ("commuter", "backpack"),
    }.items():
        facts.products[key] = await products_with(db, tenant, *prefixes)

    facts.shop_ends = {"cheapest": await _shop_end(db, tenant, "min"), "dearest": await _shop_end(db, tenant, "max")}

    row = await db.fetch_one(
        "select p.id, p.name, p.description, (select unit_amount from shop_prices r where r.tenant = p.tenant"
        " and r.product_id = p.id and r.currency = 'eur' and r.active order by unit_amount limit 1) as eur"
        " from shop_products p where p.tenant = %s and p.active order by p.id limit 1",
        (tenant,),
    )
    assert row is not None
    facts.product_one = dict(row) | {"eur_text": money(row["eur"], "eur")}
    return facts
