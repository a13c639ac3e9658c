"""Who a lead is, when the shop knows them: the Stripe customer with that email, their paid
orders and lifetime value.

Optional by design: without the shop tables (``to_regclass`` finds no ``shop_customers``), or if
the lookup fails for any reason, the mail goes out without this section. A lead is never lost
or delayed because enrichment broke, so this runs before, not inside, the lead's transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from proxy.store.db import Database

logger = logging.getLogger(__name__)

_ZERO_DECIMAL = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)


def format_amount(amount: int, currency: str) -> str:
    """Minor units as Stripe stores them -> ``49.90 EUR``."""
    exp = 0 if currency.lower() in _ZERO_DECIMAL else 2
    return f"{amount / 10**exp:,.{exp}f} {currency.upper()}"


@dataclass(frozen=True, slots=True)
class CustomerSummary:
    customer_id: str
    name: str | None
    email: str
    since: datetime | None
    orders: int
    lifetime_value: dict[str, int] = field(default_factory=dict)  # currency -> minor units
    last_order_at: datetime | None = None

    def lifetime_value_text(self) -> str:
        if not self.lifetime_value:
            return "no paid orders"
        return ", ".join(format_amount(v, c) for c, v in sorted(self.lifetime_value.items()))

    def as_dict(self) -> dict[str, object]:
        return {
            "customer_id": self.customer_id,
            "name": self.name,
            "since": self.since.isoformat() if self.since else None,
            "orders": self.orders,
            "lifetime_value": self.lifetime_value_text(),
            "last_order_at": self.last_order_at.isoformat() if self.last_order_at else None,
        }


async def find_customer(db: Database, *, tenant: str, email: str) -> CustomerSummary | None:
    """The tenant's customer with this email (case-insensitive), or None."""
    try:
        exists = await db.fetch_one("select to_regclass('shop_customers') is not null as present")
        if not exists or not exists["present"]:
            return None
        customers = await db.fetch_all(
            "select id, name, email, created from shop_customers"
            " where tenant = %s and lower(email) = lower(%s) and not deleted order by created nulls last",
            (tenant, email),
        )
        if not customers:
            return None
        ids = [c["id"] for c in customers]
        totals = await db.fetch_all(
            "select currency, count(*) as orders, sum(total)::bigint as value, max(created) as last_at"
            " from shop_invoices where tenant = %s and status = 'paid'"
            " and (customer_id = any(%s) or lower(customer_email) = lower(%s)) group by currency",
            (tenant, ids, email),
        )
    except Exception:
        logger.warning("customer lookup failed; sending the lead without it", exc_info=True)
        return None
    first = customers[0]
    last_dates = [t["last_at"] for t in totals if t["last_at"] is not None]
    return CustomerSummary(
        customer_id=first["id"],
        name=next((c["name"] for c in customers if c["name"]), None),
        email=email,
        since=first["created"],
        orders=sum(int(t["orders"]) for t in totals),
        lifetime_value={str(t["currency"]).lower(): int(t["value"] or 0) for t in totals},
        last_order_at=max(last_dates) if last_dates else None,
    )
