"""Leads and handoffs in Postgres, each stored together with its notifications.

The row and its outbox entries are written in one transaction: a lead is never stored without
its mail being queued, and a mail never exists for a lead that was rolled back. Idempotency is in
the schema (unique indexes), so a retried or resubmitted tool call finds the first lead instead
of creating a second one, even when the two calls race.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from proxy.leads.caps import check_ceilings, lock_tenant
from proxy.leads.config import LeadsConfig
from proxy.leads.enrich import CustomerSummary, find_customer
from proxy.leads.fields import LeadFields
from proxy.leads.render import lead_mail, load_transcript
from proxy.mail import outbox
from proxy.store.db import Database

LEAD_COLUMNS = (
    "id, tenant, thread_id, visitor, call_id, name, email, phone, message, page_url, consent, source, created_at"
)
HANDOFF_COLUMNS = "id, tenant, thread_id, visitor, call_id, reason, source, contact_email, created_at"


@dataclass(frozen=True, slots=True)
class Saved:
    """A stored lead or handoff; ``created`` is False when an earlier identical call stored it."""

    row: dict[str, Any]
    created: bool
    channels: list[str] = field(default_factory=list)  # the notifications queued: "email", "webhook"


def public_record(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items() if k != "content_hash"}


async def queue_notifications(
    conn: AsyncConnection[Any],
    *,
    tenant: str,
    config: LeadsConfig,
    event: str,
    key: str,
    mail: dict[str, Any] | None,
    webhook_body: dict[str, Any],
    lead_id: int | None = None,
    handoff_id: int | None = None,
) -> list[str]:
    """Queue the mail (when it has recipients) and the webhook (when configured for ``event``)."""
    channels = []
    if mail is not None and mail.get("to"):
        await outbox.enqueue(
            conn,
            tenant=tenant,
            kind="email",
            dedupe_key=f"{key}:email",
            payload=mail,
            lead_id=lead_id,
            handoff_id=handoff_id,
        )
        channels.append("email")
    if config.webhook_url and event.split(".")[0] in config.webhook_events:
        payload = {
            "url": config.webhook_url,
            "secret_env": config.webhook_secret_env,
            "event": event,
            "body": {"event": event, "tenant": tenant, **webhook_body},
        }
        await outbox.enqueue(
            conn,
            tenant=tenant,
            kind="webhook",
            dedupe_key=f"{key}:webhook",
            payload=payload,
            lead_id=lead_id,
            handoff_id=handoff_id,
        )
        channels.append("webhook")
    return channels


async def save_lead(
    db: Database,
    *,
    tenant: str,
    config: LeadsConfig,
    recipients: Sequence[str],
    thread_id: str,
    visitor: str | None,
    call_id: str | None,
    fields: LeadFields,
    page_url: str | None,
    source: str,
) -> Saved:
    """Store the lead and queue its notifications, once per (thread, call id), content and email.

    A second lead with the same email in the thread merges into the first (filling in a phone or a
    message it lacked) and sends nothing. Past the tenant's ceilings (:mod:`proxy.leads.caps`)
    nothing is stored and :class:`~proxy.leads.caps.FloodLimited` is raised.
    """
    key = (tenant, thread_id, call_id, fields.content_hash(), fields.email)
    existing = await _find_lead(db, *key)
    if existing is not None:
        return Saved(await _merge(db, existing, fields), created=False)
    # read outside the transaction: slow or failing lookups must not hold (or abort) it
    transcript = await load_transcript(db, thread_id, config.transcript_messages)
    customer = await find_customer(db, tenant=tenant, email=fields.email)
    async with db.transaction() as conn:
        await lock_tenant(conn, "leads", tenant)
        # parallel calls wait for the lock above: the first one's lead is visible to the others here
        existing = await _find_lead(conn, *key)
        if existing is None:
            await check_ceilings(
                conn, "leads", config.lead_ceilings, tenant=tenant, thread_id=thread_id, visitor=visitor
            )
            cur = await conn.execute(
                "insert into leads (tenant, thread_id, visitor, call_id, content_hash, name, email, phone, message,"
                " page_url, consent, source) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                f" on conflict do nothing returning {LEAD_COLUMNS}",
                (
                    tenant,
                    thread_id,
                    visitor,
                    call_id,
                    fields.content_hash(),
                    fields.name,
                    fields.email,
                    fields.phone,
                    fields.message,
                    page_url,
                    fields.consent,
                    source,
                ),
            )
            row = await cur.fetchone()
            if row is not None:
                channels = await _notify_lead(conn, tenant, config, recipients, row, transcript, customer)
                return Saved(row, created=True, channels=channels)
    # an earlier call stored it (seen under the lock), or a concurrent identical one committed first
    existing = existing or await _find_lead(db, *key)
    assert existing is not None
    return Saved(await _merge(db, existing, fields), created=False)


async def _merge(db: Database, row: dict[str, Any], fields: LeadFields) -> dict[str, Any]:
    """Fill in what the stored lead lacks (a phone, a message) from a repeated one; no new mail."""
    if (row["phone"] or not fields.phone) and (row["message"] or not fields.message):
        return row
    merged = await db.fetch_one(
        "update leads set phone = coalesce(phone, %s), message = coalesce(nullif(message, ''), %s)"
        f" where id = %s returning {LEAD_COLUMNS}",
        (fields.phone, fields.message, row["id"]),
    )
    return merged or row


async def _notify_lead(
    conn: AsyncConnection[Any],
    tenant: str,
    config: LeadsConfig,
    recipients: Sequence[str],
    row: dict[str, Any],
    transcript: Sequence[Any],
    customer: CustomerSummary | None,
) -> list[str]:
    mail = lead_mail(
        tenant=tenant, config=config, recipients=recipients, lead=row, transcript=transcript, customer=customer
    )
    body = {"lead": public_record(row), "customer": customer.as_dict() if customer else None}
    return await queue_notifications(
        conn,
        tenant=tenant,
        config=config,
        event="lead.created",
        key=f"lead:{row['id']}",
        mail=mail,
        webhook_body=body,
        lead_id=row["id"],
    )


async def _find_lead(
    db: Database | AsyncConnection[Any],
    tenant: str,
    thread_id: str,
    call_id: str | None,
    content_hash: str,
    email: str,
) -> dict[str, Any] | None:
    """The thread's lead from the same call, with the same content or for the same email address."""
    query = (
        f"select {LEAD_COLUMNS} from leads where tenant = %s and thread_id = %s"
        " and (call_id = %s or content_hash = %s or lower(email) = lower(%s)) order by id limit 1"
    )
    params = (tenant, thread_id, call_id, content_hash, email)
    if isinstance(db, Database):
        return await db.fetch_one(query, params)
    cur = await db.execute(query, params)
    found: dict[str, Any] | None = await cur.fetchone()
    return found


async def queued_channels(db: Database, *, lead_id: int | None = None, handoff_id: int | None = None) -> list[str]:
    """The notification kinds that exist for a lead or handoff (to answer a repeated call alike)."""
    rows = await db.fetch_all(
        "select kind from outbox where lead_id is not distinct from %s and handoff_id is not distinct from %s"
        " order by kind",
        (lead_id, handoff_id),
    )
    return [r["kind"] for r in rows]


# -- reading, for the admin API --------------------------------------------------------------------

_DELIVERIES = (
    "coalesce((select json_agg(json_build_object('id', o.id, 'kind', o.kind, 'state', o.state,"
    " 'attempts', o.attempts, 'last_error', o.last_error, 'next_attempt_at', o.next_attempt_at,"
    " 'sent_at', o.sent_at) order by o.id) from outbox o where o.{fk} = x.id), '[]'::json) as deliveries"
)


def delivery_status(deliveries: Sequence[dict[str, Any]]) -> str:
    """One word per record: ``none``, ``dead`` (any failed for good), ``sent`` (all), ``pending``."""
    states = {d["state"] for d in deliveries}
    if not states:
        return "none"
    if "dead" in states:
        return "dead"
    return "sent" if states == {"sent"} else "pending"


async def list_records(
    db: Database,
    table: str,
    *,
    tenant: str,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Leads or handoffs of a tenant, newest first, with their deliveries."""
    columns, fk = {"leads": (LEAD_COLUMNS, "lead_id"), "handoffs": (HANDOFF_COLUMNS, "handoff_id")}[table]
    rows = await db.fetch_all(
        f"select {', '.join('x.' + c.strip() for c in columns.split(','))}, {_DELIVERIES.format(fk=fk)}"
        f" from {table} x where x.tenant = %(tenant)s"
        " and (%(since)s::timestamptz is null or x.created_at >= %(since)s::timestamptz)"
        " and (%(until)s::timestamptz is null or x.created_at < %(until)s::timestamptz)"
        " order by x.created_at desc, x.id desc limit %(limit)s",
        {"tenant": tenant, "since": since, "until": until, "limit": limit},
    )
    for row in rows:
        row["delivery_status"] = delivery_status(row["deliveries"])
    return rows
