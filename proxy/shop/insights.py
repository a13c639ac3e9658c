"""Aggregate questions answered exactly with SQL over the shop's relations.

Definitions (stated in every answer): an order is a paid invoice; the period is inclusive of both
dates, in UTC; revenue is the sum of invoice totals (or of line amounts, per product) in one
currency, never summed across currencies; ties are broken by id so answers are stable.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from psycopg import sql

from proxy.errors import ProxyError
from proxy.shop.money import fmt
from proxy.shop.source import ShopData, missing_lines

if TYPE_CHECKING:
    from proxy.store.db import Database


class InsightError(ProxyError, ValueError):
    """A question the insights cannot answer as asked; the message says why."""

    code = "invalid_insight_query"


def period(date_from: str | None, date_to: str | None) -> tuple[datetime | None, datetime | None]:
    """Inclusive ISO dates -> [start, end) instants in UTC."""
    try:
        start = datetime.combine(date.fromisoformat(date_from), datetime.min.time(), UTC) if date_from else None
        end = (
            datetime.combine(date.fromisoformat(date_to), datetime.min.time(), UTC) + timedelta(days=1)
            if date_to
            else None
        )
    except ValueError as exc:
        raise InsightError(f"dates must look like 2026-03-31 ({exc})") from None
    if start and end and end <= start:
        raise InsightError("date_to is before date_from")
    return start, end


class Insights:
    """One tenant's data, one period: each method answers one kind of question."""

    def __init__(
        self, db: Database, data: ShopData, *, date_from: str | None = None, date_to: str | None = None
    ) -> None:
        self.db, self.data = db, data
        self.date_from, self.date_to = date_from, date_to
        self.start, self.end = period(date_from, date_to)

    def _q(self, body: str) -> sql.Composed:
        return sql.SQL(
            "{rel}, orders as not materialized (select * from invoices where status = 'paid'"
            " and (%(start)s::timestamptz is null or created >= %(start)s)"
            " and (%(end)s::timestamptz is null or created < %(end)s)),"
            " order_lines as not materialized (select l.* from lines l join orders o on o.id = l.invoice_id"
            " where l.product_id is not null) "
        ).format(rel=self.data.relations()) + sql.SQL(body)  # bodies are constants below

    async def rows(self, body: str, **params: Any) -> list[dict[str, Any]]:
        return await self.db.fetch_all(self._q(body), {"start": self.start, "end": self.end, **params})

    def frame(self, **extra: Any) -> dict[str, Any]:
        frame = {"period": f"{self.date_from or 'first order'} .. {self.date_to or 'last order'} (inclusive, UTC)"}
        frame["orders_are"] = "paid invoices"
        return {**frame, **extra}

    async def currency(self, wanted: str | None) -> tuple[str | None, list[str]]:
        """The currency to report money in: the asked one, else the one with the most orders."""
        rows = await self.rows("select currency, count(*) as n from orders group by 1 order by 2 desc, 1")
        found = [r["currency"] for r in rows]
        if wanted:
            return wanted.lower(), found
        return (found[0] if found else None), found

    async def require_lines(self) -> None:
        """Questions about products need invoice lines with products: say so when there are none."""
        if gap := await missing_lines(self.db, self.data):
            raise InsightError(gap)

    async def names(self, ids: list[str]) -> dict[str, str]:
        rows = await self.db.fetch_all(
            sql.SQL("{rel} select id, name from products where id = any(%(ids)s)").format(rel=self.data.relations()),
            {"ids": ids},
        )
        return {r["id"]: r["name"] for r in rows}

    async def best_sellers(self, *, by: str = "units", currency: str | None = None, limit: int = 10) -> dict[str, Any]:
        if by not in ("units", "revenue"):
            raise InsightError("by must be 'units' or 'revenue'")
        await self.require_lines()
        cur, found = await self.currency(currency) if by == "revenue" else (None, [])
        rows = await self.rows(
            "select l.product_id as id, max(coalesce(p.name, l.description)) as name, sum(l.quantity) as units,"
            " sum(l.amount) as revenue, count(distinct l.invoice_id) as orders"
            " from order_lines l left join products p on p.id = l.product_id"
            " where (%(cur)s::text is null or l.currency = %(cur)s) group by l.product_id"
            + (" order by units desc, id" if by == "units" else " order by revenue desc, id")
            + " limit %(limit)s",
            cur=cur,
            limit=limit,
        )
        items = [
            {"id": r["id"], "name": r["name"], "units": int(r["units"]), "orders": r["orders"]}
            | ({"revenue": fmt(int(r["revenue"]), cur)} if cur else {})
            for r in rows
        ]
        extra = (
            {"currency": cur, "currencies_with_orders": found}
            if cur
            else {"units_are": "quantities on paid invoice lines, all currencies"}
        )
        return self.frame(ranked_by=by, products=items, **extra)

    async def bought_together(self, *, product_id: str | None = None, limit: int = 10) -> dict[str, Any]:
        await self.require_lines()
        distinct = " with_ops as (select distinct invoice_id, product_id from order_lines) "
        if product_id is None:
            rows = await self.rows(
                ", " + distinct + "select a.product_id as a, b.product_id as b, count(*) as orders from with_ops a"
                " join with_ops b on a.invoice_id = b.invoice_id and a.product_id < b.product_id"
                " group by 1, 2 order by 3 desc, 1, 2 limit %(limit)s",
                limit=limit,
            )
            names = await self.names([r["a"] for r in rows] + [r["b"] for r in rows])
            pairs = [
                {
                    "products": [{"id": r["a"], "name": names.get(r["a"])}, {"id": r["b"], "name": names.get(r["b"])}],
                    "orders": r["orders"],
                }
                for r in rows
            ]
            return self.frame(pairs_bought_in_the_same_order=pairs)
        rows = await self.rows(
            ", " + distinct + "select b.product_id as id, count(*) as orders from with_ops a"
            " join with_ops b on a.invoice_id = b.invoice_id and b.product_id <> a.product_id"
            " where a.product_id = %(pid)s group by 1 order by 2 desc, 1 limit %(limit)s",
            pid=product_id,
            limit=limit,
        )
        base = await self.rows(
            "select count(distinct invoice_id) as n from order_lines where product_id = %(pid)s", pid=product_id
        )
        names = await self.names([r["id"] for r in rows] + [product_id])
        companions = [{"id": r["id"], "name": names.get(r["id"]), "orders": r["orders"]} for r in rows]
        return self.frame(
            product={"id": product_id, "name": names.get(product_id)},
            orders_with_product=base[0]["n"],
            most_often_in_the_same_order=companions,
        )

    async def second_product(
        self, *, basis: str = "order", product_id: str | None = None, limit: int = 10
    ) -> dict[str, Any]:
        if basis == "order":
            seq = (
                ", firsts as (select invoice_id as grp, product_id, min(position) as pos from order_lines group"
                " by 1, 2),"
                " seq as (select grp, product_id, row_number() over (partition by grp order by pos, product_id)"
                " as rn from firsts)"
            )
            meaning = (
                "among orders with two or more different products: the product on the second line (first occurrence)"
            )
        elif basis == "customer":
            seq = (
                ", occ as (select o.customer_id as grp, l.product_id, o.created, o.id, l.position, row_number() over"
                " (partition by o.customer_id, l.product_id order by o.created, o.id, l.position) as k"
                " from order_lines l join orders o on o.id = l.invoice_id where o.customer_id is not null),"
                " seq as (select grp, product_id, row_number() over (partition by grp order by created, id,"
                " position, product_id)"
                " as rn from occ where k = 1)"
            )
            meaning = (
                "among customers who bought two or more different products: the second different product they bought"
            )
        else:
            raise InsightError("basis must be 'order' or 'customer'")
        await self.require_lines()
        body = (
            seq + ", pairs as (select max(product_id) filter (where rn = 1) as first_id,"
            " max(product_id) filter (where rn = 2) as second_id from seq where rn <= 2 group by grp having"
            " count(*) = 2),"
            " chosen as (select * from pairs where (%(pid)s::text is null or first_id = %(pid)s))"
        )
        rows = await self.rows(
            body + " select second_id as id, count(*) as n from chosen group by 1 order by 2 desc, 1 limit %(limit)s",
            pid=product_id,
            limit=limit,
        )
        total = (await self.rows(body + " select count(*) as n from chosen", pid=product_id))[0]["n"]
        names = await self.names([r["id"] for r in rows] + ([product_id] if product_id else []))
        out = self.frame(
            basis=basis,
            meaning=meaning,
            groups_counted=total,
            second_products=[{"id": r["id"], "name": names.get(r["id"]), "count": r["n"]} for r in rows],
        )
        if product_id:
            out["first_product"] = {"id": product_id, "name": names.get(product_id)}
        return out
