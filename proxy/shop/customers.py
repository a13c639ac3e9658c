"""Customer look-ups and order histories, always within the visitor's :class:`CustomerScope`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from psycopg import sql

from proxy.shop.money import fmt
from proxy.shop.policy import OWN_ONLY, CustomerScope
from proxy.shop.source import missing_lines
from proxy.tools.registry import ToolError

if TYPE_CHECKING:
    from proxy.shop.source import ShopData
    from proxy.store.db import Database

MAX_LINES_PER_ORDER = 10


def _scope_params(scope: CustomerScope) -> dict[str, Any]:
    return {"scoped": scope.ids is not None, "scope_ids": sorted(scope.ids or ())}


def _name_pattern(name: str) -> str:
    words = re.findall(r"[^\W_]+", name.lower())
    return "%" + "%".join(words) + "%" if words else ""


async def find_customer(
    db: Database,
    data: ShopData,
    scope: CustomerScope,
    *,
    email: str | None = None,
    name: str | None = None,
    customer_id: str | None = None,
    limit: int = 10,
) -> dict[str, Any]:
    asked = any((email, name, customer_id))
    if not asked and scope.ids is None:
        raise ToolError("give an email, a name or a customer id to look up")
    if scope.ids is not None and not scope.ids:
        raise ToolError("No customer record is linked to the signed-in visitor's email address.")
    query = sql.SQL(
        "{rel} select c.id, c.name, c.email, c.created,"
        " (select count(*) from invoices i where i.customer_id = c.id and i.status = 'paid') as paid_orders,"
        " (select max(i.created) from invoices i where i.customer_id = c.id) as last_order"
        " from customers c where (not %(scoped)s or c.id = any(%(scope_ids)s))"
        " and (%(email)s::text is null or lower(c.email) = lower(%(email)s))"
        " and (%(cid)s::text is null or c.id = %(cid)s)"
        " and (%(pattern)s::text is null or lower(c.name) like %(pattern)s)"
        " order by (lower(c.name) = lower(%(name)s)) desc nulls last, c.name, c.id limit %(limit)s"
    ).format(rel=data.relations())
    rows = await db.fetch_all(
        query,
        {
            "email": email,
            "cid": customer_id,
            "pattern": _name_pattern(name) if name else None,
            "name": name,
            "limit": limit + 1,
            **_scope_params(scope),
        },
    )
    if not rows and scope.ids is not None:
        raise ToolError(OWN_ONLY)
    customers = [
        {
            "id": r["id"],
            "name": r["name"],
            "email": r["email"],
            "customer_since": f"{r['created']:%Y-%m-%d}" if r["created"] else None,
            "paid_orders": r["paid_orders"],
            "last_order": f"{r['last_order']:%Y-%m-%d}" if r["last_order"] else None,
        }
        for r in rows[:limit]
    ]
    return (
        {"customers": customers, "more": len(rows) > limit}
        if customers
        else {"customers": [], "note": "no customer matches"}
    )


async def _resolve_customers(
    db: Database, data: ShopData, scope: CustomerScope, customer_id: str | None, email: str | None
) -> list[str]:
    if customer_id:
        if not scope.allows(customer_id):
            raise ToolError(OWN_ONLY)
        return [customer_id]
    if email:
        rows = await db.fetch_all(
            sql.SQL(
                "{rel} select id from customers where lower(email) = lower(%(email)s)"
                " and (not %(scoped)s or id = any(%(scope_ids)s)) order by id"
            ).format(rel=data.relations()),
            {"email": email, **_scope_params(scope)},
        )
        if not rows and scope.ids is not None:
            raise ToolError(OWN_ONLY)
        return [r["id"] for r in rows]
    if scope.ids is None:
        raise ToolError("give a customer id (from find_customer) or an email")
    if not scope.ids:
        raise ToolError("No customer record is linked to the signed-in visitor's email address.")
    return sorted(scope.ids)


async def customer_orders(
    db: Database,
    data: ShopData,
    scope: CustomerScope,
    *,
    customer_id: str | None = None,
    email: str | None = None,
    limit: int = 10,
) -> dict[str, Any]:
    ids = await _resolve_customers(db, data, scope, customer_id, email)
    if not ids:
        return {"orders": [], "note": "no customer with that email"}
    params = {"ids": ids, "limit": limit}
    rel = data.relations()
    orders = await db.fetch_all(
        sql.SQL(
            "{rel} select id, number, customer_id, currency, status, total, created, count(*) over () as n"
            " from invoices where customer_id = any(%(ids)s) order by created desc, id limit %(limit)s"
        ).format(rel=rel),
        params,
    )
    lines = await db.fetch_all(
        sql.SQL(
            "{rel} select l.invoice_id, l.product_id, coalesce(p.name, l.description) as name, l.quantity, l.amount"
            " from lines l left join products p on p.id = l.product_id where l.invoice_id = any(%(inv)s)"
            " order by l.invoice_id, l.position, l.id"
        ).format(rel=rel),
        {"inv": [o["id"] for o in orders]},
    )
    unknown = await missing_lines(db, data, products=False) if orders and not lines else None
    by_invoice: dict[str, list[dict[str, Any]]] = {}
    for li in lines:
        by_invoice.setdefault(li["invoice_id"], []).append(li)
    out = []
    for o in orders:
        items = by_invoice.get(o["id"], [])
        entry: dict[str, Any] = {
            "invoice_id": o["id"],
            "number": o["number"],
            "date": f"{o['created']:%Y-%m-%d}",
            "status": o["status"],
            "total": fmt(o["total"], o["currency"]),
            "items": [
                {
                    "product_id": li["product_id"],
                    "name": li["name"],
                    "quantity": int(li["quantity"]),
                    "amount": fmt(li["amount"], o["currency"]),
                }
                for li in items[:MAX_LINES_PER_ORDER]
            ],
        }
        if unknown:
            del entry["items"]
            entry["items_unknown"] = unknown
        if len(items) > MAX_LINES_PER_ORDER:
            entry["more_items"] = len(items) - MAX_LINES_PER_ORDER
        if len(ids) > 1:
            entry["customer_id"] = o["customer_id"]
        out.append(entry)
    total = orders[0]["n"] if orders else 0
    return {"customer_ids": ids, "orders_total": total, "orders": out, "newest_first": True, "more": total > len(out)}
