"""The durable outbox: notifications (mails, webhook calls) queued in Postgres.

A row is queued in the same transaction as the thing it announces (a lead, a handoff), so either
both exist or neither does. Senders claim due rows with ``for update skip locked`` and a lease:
several workers or instances never hold the same row, and a sender killed mid-delivery only
delays its rows until the lease runs out. Delivery is therefore at least once; the only window
for a duplicate is a crash after the server accepted the message and before ``sent`` was written,
which is why mails carry a stable ``Message-ID`` per row.

States: ``pending`` -> ``sending`` -> ``sent``; on failure back to ``pending`` with a backoff, or
``dead`` after a permanent error or the last allowed attempt. An admin may retry a dead row.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from proxy.store.db import Database

NOTIFY_CHANNEL = "proxy_outbox"

Kind = Literal["email", "webhook"]
State = Literal["pending", "sending", "sent", "dead"]


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A claimed row: the sender owns it until ``lease_owner``'s lease runs out."""

    id: int
    tenant: str
    kind: Kind
    payload: dict[str, Any]
    attempts: int  # including the current one
    created_at: datetime
    lease_owner: str


def new_owner() -> str:
    """A lease owner unique to one sender pass, readable in the table when debugging."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


async def enqueue(
    conn: AsyncConnection[Any],
    *,
    tenant: str,
    kind: Kind,
    dedupe_key: str,
    payload: dict[str, Any],
    lead_id: int | None = None,
    handoff_id: int | None = None,
) -> int | None:
    """Queue a notification inside the caller's transaction; None if ``dedupe_key`` exists already.

    The NOTIFY is delivered by Postgres at commit only, so a sender never wakes for a row it
    cannot see yet, and a rolled-back transaction wakes nobody.
    """
    cur = await conn.execute(
        "insert into outbox (tenant, kind, dedupe_key, payload, lead_id, handoff_id)"
        " values (%s, %s, %s, %s, %s, %s) on conflict (dedupe_key) do nothing returning id",
        (tenant, kind, dedupe_key, Jsonb(payload), lead_id, handoff_id),
    )
    row = await cur.fetchone()
    await conn.execute("select pg_notify(%s, '')", (NOTIFY_CHANNEL,))
    lead_or_none: int | None = _get(row, "id")
    return lead_or_none


def _list(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else list(values)


def _get(row: Any, key: str) -> Any:
    if row is None:
        return None
    return row[key] if isinstance(row, dict) else row[0]


async def claim(
    db: Database,
    *,
    owner: str,
    lease_seconds: float,
    limit: int,
    kinds: Sequence[str],
    exclude: Sequence[int] = (),
    tenants: Sequence[str] | None = None,
) -> list[OutboxItem]:
    """Lease up to ``limit`` due rows: pending ones whose time has come, and rows whose sender
    died (an expired lease). The attempt is counted here, before sending, so a row that kills its
    sender every time still reaches its limit."""
    if not kinds:
        return []
    rows = await db.fetch_all(
        "with due as ("
        " select id from outbox"
        " where kind = any(%(kinds)s::text[]) and id <> all(%(exclude)s::bigint[])"
        "   and (%(tenants)s::text[] is null or tenant = any(%(tenants)s::text[]))"
        "   and ((state = 'pending' and next_attempt_at <= now())"
        "   or (state = 'sending' and lease_until < now()))"
        " order by next_attempt_at, id limit %(limit)s for update skip locked)"
        " update outbox o set state = 'sending', attempts = o.attempts + 1, lease_owner = %(owner)s,"
        " lease_until = now() + make_interval(secs => %(lease)s), updated_at = now()"
        " from due where o.id = due.id"
        " returning o.id, o.tenant, o.kind, o.payload, o.attempts, o.created_at",
        {
            "kinds": list(kinds),
            "exclude": list(exclude),
            "tenants": _list(tenants),
            "limit": limit,
            "owner": owner,
            "lease": lease_seconds,
        },
    )
    items = [
        OutboxItem(r["id"], r["tenant"], r["kind"], r["payload"], r["attempts"], r["created_at"], owner) for r in rows
    ]
    return sorted(items, key=lambda item: item.id)


async def mark_sent(db: Database, item: OutboxItem, note: str | None = None) -> bool:
    """Record the delivery; False if another sender took the row over meanwhile (lease lost)."""
    count = await db.execute(
        "update outbox set state = 'sent', sent_at = now(), lease_owner = null, lease_until = null,"
        " last_error = %s, updated_at = now() where id = %s and state = 'sending' and lease_owner = %s",
        (note, item.id, item.lease_owner),
    )
    return count == 1


async def mark_failed(
    db: Database, item: OutboxItem, error: str, *, permanent: bool, max_attempts: int, retry_in: float
) -> State:
    """Back to ``pending`` after ``retry_in`` seconds, or ``dead`` when retrying cannot help."""
    state: State = "dead" if permanent or item.attempts >= max_attempts else "pending"
    await db.execute(
        "update outbox set state = %s, last_error = %s, lease_owner = null, lease_until = null,"
        " next_attempt_at = case when %s::text = 'pending'"
        "   then now() + make_interval(secs => %s::float8) else next_attempt_at end,"
        " updated_at = now() where id = %s and state = 'sending' and lease_owner = %s",
        (state, error[:2000], state, retry_in, item.id, item.lease_owner),
    )
    return state


async def retry(db: Database, outbox_id: int, *, tenant: str) -> tuple[str, dict[str, Any] | None]:
    """Make a dead (or waiting) row due now with a fresh attempt budget.

    Returns ``("ok", row)``, ``("missing", None)`` for another tenant's or an unknown row, or
    ``("conflict", row)`` when the row is sent or being sent.
    """
    async with db.transaction() as conn:
        cur = await conn.execute(
            "update outbox set state = 'pending', attempts = 0, next_attempt_at = now(), lease_owner = null,"
            " lease_until = null, updated_at = now() where id = %s and tenant = %s and state in ('dead', 'pending')"
            f" returning {ROW_COLUMNS}",
            (outbox_id, tenant),
        )
        row = await cur.fetchone()
        if row is not None:
            await conn.execute("select pg_notify(%s, '')", (NOTIFY_CHANNEL,))
            return "ok", row
    existing = await db.fetch_one(
        f"select {ROW_COLUMNS} from outbox where id = %s and tenant = %s", (outbox_id, tenant)
    )
    return ("conflict", existing) if existing else ("missing", None)


async def seconds_until_due(db: Database, kinds: Sequence[str], tenants: Sequence[str] | None = None) -> float | None:
    """How long until the next row becomes due (a backoff ends or a lease expires), if any."""
    if not kinds:
        return None
    scope = "kind = any(%(k)s::text[]) and (%(t)s::text[] is null or tenant = any(%(t)s::text[]))"
    row = await db.fetch_one(
        "select extract(epoch from min(due) - now()) as wait from ("
        f" select min(next_attempt_at) as due from outbox where state = 'pending' and {scope}"
        f" union all select min(lease_until) from outbox where state = 'sending' and {scope}) t",
        {"k": list(kinds), "t": _list(tenants)},
    )
    wait = row["wait"] if row else None
    return None if wait is None else max(0.0, float(wait))


ROW_COLUMNS = (
    "id, tenant, kind, state, attempts, next_attempt_at, last_error, created_at, updated_at, sent_at,"
    " lead_id, handoff_id"
)


def public_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the admin API shows it (no payload: it may hold the visitor's message)."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "state": row["state"],
        "attempts": row["attempts"],
        "next_attempt_at": row["next_attempt_at"],
        "last_error": row["last_error"],
        "created_at": row["created_at"],
        "sent_at": row["sent_at"],
        "lead_id": row.get("lead_id"),
        "handoff_id": row.get("handoff_id"),
    }
