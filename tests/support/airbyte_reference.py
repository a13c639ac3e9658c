"""The shop tools' answers computed in plain Python from the Stripe records fed to Airbyte, so that
the answers read from Airbyte's tables are checked against something that shares none of their
SQL. Definitions as in ``proxy.shop.insights``: orders are paid invoices, periods are inclusive
UTC dates, money is never summed across currencies, ties are broken by id."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from proxy.shop.money import fmt


def line_product(line: dict[str, Any]) -> str | None:
    pricing = line.get("pricing") or {}
    if isinstance(pricing.get("price_details"), dict):
        return pricing["price_details"].get("product")
    price = line.get("price")
    return price.get("product") if isinstance(price, dict) else None


@dataclass
class Order:
    id: str
    number: str
    customer: str | None
    currency: str
    total: int
    created: datetime
    lines: list[dict[str, Any]] = field(default_factory=list)  # {id, product, quantity, amount, currency}


class Reference:
    def __init__(self, records: dict[str, list[dict[str, Any]]]) -> None:
        self.names = {p["id"]: p["name"] for p in records["products"]}
        self.customers = {c["id"]: c for c in records["customers"]}
        self.invoices: list[Order] = []
        for inv in records["invoices"]:
            order = Order(
                inv["id"],
                inv["number"],
                inv.get("customer"),
                inv["currency"].lower(),
                int(inv["total"]),
                datetime.fromtimestamp(inv["created"], UTC),
            )
            for line in inv["lines"]["data"]:
                order.lines.append(
                    {
                        "id": line["id"],
                        "product": line_product(line),
                        "quantity": int(line.get("quantity") or 1),
                        "amount": int(line["amount"]),
                        "currency": line["currency"].lower(),
                        "description": line.get("description"),
                    }
                )
            if inv["status"] == "paid":
                self.invoices.append(order)
        self.by_id = {o.id: o for o in self.invoices}

    # -- helpers -----------------------------------------------------------------------------
    def orders(self, date_from: str | None = None, date_to: str | None = None) -> list[Order]:
        out = []
        for o in self.invoices:
            day = o.created.date()
            if date_from and day < date.fromisoformat(date_from):
                continue
            if date_to and day > date.fromisoformat(date_to):
                continue
            out.append(o)
        return out

    def currency(self, orders: list[Order]) -> str:
        counts = Counter(o.currency for o in orders)
        return sorted(counts, key=lambda c: (-counts[c], c))[0]

    # -- the questions -----------------------------------------------------------------------
    def best_sellers(self, by: str = "units", limit: int = 10, **period: Any) -> list[dict[str, Any]]:
        orders = self.orders(**period)
        cur = self.currency(orders) if by == "revenue" else None
        units: Counter[str] = Counter()
        revenue: Counter[str] = Counter()
        invoices: dict[str, set[str]] = defaultdict(set)
        for o in orders:
            for li in o.lines:
                if li["product"] is None or (cur and li["currency"] != cur):
                    continue
                units[li["product"]] += li["quantity"]
                revenue[li["product"]] += li["amount"]
                invoices[li["product"]].add(o.id)
        key = (lambda p: (-units[p], p)) if by == "units" else (lambda p: (-revenue[p], p))
        out = []
        for pid in sorted(units, key=key)[:limit]:
            row = {"id": pid, "name": self.names.get(pid), "units": units[pid], "orders": len(invoices[pid])}
            if cur:
                row["revenue"] = fmt(revenue[pid], cur)
            out.append(row)
        return out

    def _products_per_order(self) -> dict[str, set[str]]:
        return {o.id: {li["product"] for li in o.lines if li["product"]} for o in self.orders()}

    def bought_together(self, limit: int = 10) -> list[tuple[str, str, int]]:
        pairs: Counter[tuple[str, str]] = Counter()
        for products in self._products_per_order().values():
            ordered = sorted(products)
            for i, a in enumerate(ordered):
                for b in ordered[i + 1 :]:
                    pairs[(a, b)] += 1
        ranked = sorted(pairs, key=lambda p: (-pairs[p], p))[:limit]
        return [(a, b, pairs[(a, b)]) for a, b in ranked]

    def companions(self, product: str, limit: int = 10) -> tuple[int, list[tuple[str, int]]]:
        counts: Counter[str] = Counter()
        base = 0
        for products in self._products_per_order().values():
            if product in products:
                base += 1
                counts.update(products - {product})
        return base, [(p, counts[p]) for p in sorted(counts, key=lambda p: (-counts[p], p))[:limit]]

    def second_product(self, basis: str = "order", limit: int = 10) -> tuple[int, list[tuple[str, int]]]:
        sequences: list[list[str]] = []
        if basis == "order":
            for o in self.orders():
                seen: list[str] = []
                for li in o.lines:  # lines in the order the invoice lists them
                    if li["product"] and li["product"] not in seen:
                        seen.append(li["product"])
                sequences.append(seen)
        else:
            per_customer: dict[str, list[str]] = defaultdict(list)
            for o in sorted(self.orders(), key=lambda o: (o.created, o.id)):
                if o.customer is None:
                    continue
                for li in o.lines:
                    if li["product"] and li["product"] not in per_customer[o.customer]:
                        per_customer[o.customer].append(li["product"])
            sequences = list(per_customer.values())
        seconds = Counter(seq[1] for seq in sequences if len(seq) >= 2)
        ranked = sorted(seconds, key=lambda p: (-seconds[p], p))[:limit]
        return sum(seconds.values()), [(p, seconds[p]) for p in ranked]

    def extreme(self, which: str, currency: str | None = None) -> dict[str, Any]:
        orders = self.orders()
        cur = currency or self.currency(orders)
        pool = [o for o in orders if o.currency == cur and (which == "largest" or o.total > 0)]
        sign = 1 if which == "cheapest" else -1
        o = sorted(pool, key=lambda o: (sign * o.total, o.created, o.id))[0]
        customer = self.customers.get(o.customer or "", {})
        return {
            "invoice_id": o.id,
            "number": o.number,
            "total": fmt(o.total, cur),
            "date": f"{o.created:%Y-%m-%d}",
            "customer": {"id": o.customer, "name": customer.get("name"), "email": customer.get("email")},
            "items": [self.item(li, cur) for li in o.lines][:10],
            "orders_with_the_same_total": sum(1 for x in orders if x.currency == cur and x.total == o.total),
        }

    def item(self, li: dict[str, Any], cur: str) -> dict[str, Any]:
        return {
            "product_id": li["product"],
            "name": self.names.get(li["product"]) or li["description"],
            "quantity": li["quantity"],
            "amount": fmt(li["amount"], cur),
        }

    def revenue(self) -> dict[str, Any]:
        orders = self.orders()
        cur = self.currency(orders)
        mine = [o for o in orders if o.currency == cur]
        total = sum(o.total for o in mine)
        aov = int((Decimal(total) / len(mine)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        months: dict[str, list[Order]] = defaultdict(list)
        for o in mine:
            months[f"{o.created:%Y-%m}"].append(o)
        return {
            "currency": cur,
            "orders": len(mine),
            "customers": len({o.customer for o in mine if o.customer}),
            "revenue": fmt(total, cur),
            "average_order_value": fmt(aov, cur),
            "by_month": [
                {"month": m, "orders": len(months[m]), "revenue": fmt(sum(o.total for o in months[m]), cur)}
                for m in sorted(months)
            ],
        }

    def repeat_rate(self) -> tuple[int, int]:
        counts = Counter(o.customer for o in self.orders() if o.customer)
        return len(counts), sum(1 for n in counts.values() if n >= 2)

    def top_customers(self, limit: int = 10) -> list[tuple[str, int, str]]:
        orders = self.orders()
        cur = self.currency(orders)
        spent: Counter[str] = Counter()
        count: Counter[str] = Counter()
        for o in orders:
            if o.currency == cur and o.customer:
                spent[o.customer] += o.total
                count[o.customer] += 1
        ranked = sorted(spent, key=lambda c: (-spent[c], c))[:limit]
        return [(c, count[c], fmt(spent[c], cur) or "") for c in ranked]
