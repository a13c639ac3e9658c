"""Who may see what, enforced where the data is read: a tool never returns what the visitor may
not see, whatever the model asks.

Access per visitor kind comes from the tenant's ``shop.policy``: ``catalog`` (products only),
``own`` (plus the customer records whose email, or ``metadata.user_id``, is the verified
visitor's), ``all`` (everything, including insights), or ``none``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from psycopg import sql

from proxy.shop.config import ACCESS_ORDER, Access, ShopConfig
from proxy.tools.registry import ToolError

if TYPE_CHECKING:
    from proxy.shop.source import ShopData
    from proxy.store.db import Database
    from proxy.visitors import Visitor

_NEEDS = {
    "catalog": "the product catalog",
    "own": "customer records",
    "all": "other customers' records and shop-wide figures",
}


def access_of(shop: ShopConfig, visitor: Visitor) -> Access:
    return shop.policy.access_for(visitor.kind)


def require(shop: ShopConfig, visitor: Visitor, needed: Access) -> Access:
    """Raise a refusal the model can relay unless the visitor's access reaches ``needed``."""
    access = access_of(shop, visitor)
    if ACCESS_ORDER[access] >= ACCESS_ORDER[needed]:
        return access
    what = _NEEDS.get(needed, "this information")
    if visitor.kind == "anonymous" and needed in ("own", "all"):
        hint = "The visitor is not signed in, so only the product catalog is available."
    elif needed == "all":
        hint = "Signed-in customers can see only their own record and orders."
    else:
        hint = "This shop does not share it in the chat."
    raise ToolError(f"Not allowed: {what} cannot be shown to this visitor. {hint}")


@dataclass(frozen=True, slots=True)
class CustomerScope:
    """Which customer ids a visitor may see: ``None`` means all of them."""

    ids: frozenset[str] | None

    def allows(self, customer_id: str) -> bool:
        return self.ids is None or customer_id in self.ids


async def customer_scope(db: Database, data: ShopData, shop: ShopConfig, visitor: Visitor) -> CustomerScope:
    access = require(shop, visitor, "own")
    if access == "all":
        return CustomerScope(None)
    if not visitor.email and not visitor.user_id:
        return CustomerScope(frozenset())
    rows = await db.fetch_all(
        sql.SQL(
            "{rel} select id from customers where (%(email)s::text is not null and lower(email) = lower(%(email)s))"
            " or (%(uid)s::text is not null and user_id = %(uid)s)"
        ).format(rel=data.relations()),
        {"email": visitor.email, "uid": visitor.user_id},
    )
    return CustomerScope(frozenset(r["id"] for r in rows))


OWN_ONLY = "Not allowed: a signed-in customer can only see their own customer record and orders."
