"""Ceilings on leads and handoffs per thread, visitor and tenant within an hour.

A prompt-injected model can call ``capture_lead`` twenty-five times in one reply, or a script can
open conversation after conversation asking for a human: each would mail the tenant's team. The
counts are read inside the transaction that stores the record, under a per-tenant advisory lock,
so parallel calls are counted one after the other and none slips past a ceiling.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import AsyncConnection

from proxy.observability.metrics import FLOOD_REFUSED
from proxy.tools.errors import ToolError

logger = logging.getLogger(__name__)

Kind = Literal["leads", "handoffs"]


@dataclass(frozen=True, slots=True)
class Ceilings:
    """Records per hour; 0 switches a ceiling off."""

    per_thread: int
    per_visitor: int
    per_tenant: int


class FloodLimited(ToolError):
    """Over a ceiling: nothing was stored or sent. The message is for the model to relay."""

    code = "flood_limited"

    def __init__(self, kind: Kind, scope: str) -> None:
        self.kind = kind
        self.scope = scope
        what = "contact requests" if kind == "leads" else "requests for a person"
        super().__init__(
            f"Not saved: too many {what} from this {scope} in the last hour, so the team was not notified again."
            " Tell the visitor the team already has their earlier request and will reply."
        )


async def lock_tenant(conn: AsyncConnection[Any], kind: Kind, tenant: str) -> None:
    """Serialise the tenant's new records of this kind until the transaction ends."""
    await conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"{kind}-ceiling:{tenant}",))


async def check_ceilings(
    conn: AsyncConnection[Any],
    kind: Kind,
    ceilings: Ceilings,
    *,
    tenant: str,
    thread_id: str,
    visitor: str | None,
) -> None:
    """Raise :class:`FloodLimited` if one more record would pass a ceiling (call :func:`lock_tenant` first)."""
    if not (ceilings.per_thread or ceilings.per_visitor or ceilings.per_tenant):
        return
    table = {"leads": "leads", "handoffs": "handoffs"}[kind]
    cur = await conn.execute(
        "select count(*) filter (where thread_id = %(thread)s) as thread,"
        " count(*) filter (where %(visitor)s::text is not null and visitor = %(visitor)s) as visitor,"
        f" count(*) as tenant from {table}"
        " where tenant = %(tenant)s and created_at > now() - interval '1 hour'",
        {"thread": thread_id, "visitor": visitor, "tenant": tenant},
    )
    counts = await cur.fetchone()
    assert counts is not None
    for scope, ceiling, count in (
        ("conversation", ceilings.per_thread, counts["thread"]),
        ("visitor", ceilings.per_visitor, counts["visitor"]),
        ("site", ceilings.per_tenant, counts["tenant"]),
    ):
        if ceiling and count >= ceiling:
            FLOOD_REFUSED.labels(tenant, kind, scope).inc()
            logger.warning(f"{kind} ceiling reached", extra={"tenant": tenant, "scope": scope, "thread_id": thread_id})
            raise FloodLimited(kind, scope)
