"""Handing a conversation to a human: detection, the record, the notifications, the stream event.

Three ways in: the model calls ``escalate_to_human``; the visitor's message contains one of the
tenant's keywords; or the visitor plainly asks for a person. The turn runner checks the last two
with :func:`handoff_requested` before the engine runs and calls :func:`record_handoff` itself.

One handoff per thread within the tenant's cooldown: a visitor typing "human" five times, or a
keyword and the model's tool call in the same turn, notify the team once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from proxy.leads.caps import FloodLimited, check_ceilings, lock_tenant
from proxy.leads.config import LeadsConfig
from proxy.leads.enrich import find_customer
from proxy.leads.render import handoff_mail, load_transcript
from proxy.leads.store import HANDOFF_COLUMNS, public_record, queue_notifications, queued_channels
from proxy.store.db import Database
from proxy.visitors import Visitor

if TYPE_CHECKING:
    from proxy.tenants import TenantConfig

logger = logging.getLogger(__name__)

HandoffSource = Literal["tool", "keyword", "request"]

_PEOPLE = r"(?:human|person|people|agent|representative|rep|operator|staff|someone|somebody|employee|manager)"
_REQUESTS = [
    rf"\b(?:talk|speak|chat|write)\s+(?:to|with)\s+(?:a\s+|an\s+|some\s+|your\s+|the\s+)?"
    rf"(?:real\s+|live\s+|actual\s+)?{_PEOPLE}\b",
    r"\b(?:real|live|actual)\s+(?:human|person|agent)\b",
    r"\bhuman\s+(?:agent|support|being|help)\b",
    r"\b(?:connect|transfer|put)\s+me\s+(?:to|through\s+to|with)\s+(?:a\s+|an\s+|your\s+|the\s+)?\w+",
    r"\bmit\s+einem\s+(?:menschen|mitarbeiter|berater)\b",
    r"\bparler\s+(?:à|a)\s+(?:un|une)\s+(?:humain|personne|conseill[eè]re?|agent)\b",
    r"\bhablar\s+con\s+(?:un|una)\s+(?:humano|persona|agente)\b",
]
_REQUEST_RE = re.compile("|".join(f"(?:{p})" for p in _REQUESTS), re.IGNORECASE)
_NEGATION_RE = re.compile(r"(?:\bnot?\b|n't|\bnever\b|\bno need\b|\bwithout\b)[^.!?]{0,25}$", re.IGNORECASE)


@lru_cache(maxsize=256)
def _keyword_re(keyword: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in keyword.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def handoff_requested(text: str, keywords: Sequence[str], *, explicit: bool = True) -> str | None:
    """The reason to hand over, if the visitor's message calls for it; else None.

    ``keywords`` are the tenant's phrases (matched as whole words, any case); ``explicit`` also
    recognises a plain request for a person ("can I talk to a human?"), unless negated nearby
    ("I don't need to talk to a person").
    """
    for keyword in keywords:
        if keyword.strip() and _keyword_re(" ".join(keyword.split())).search(text):
            return f'the visitor wrote the keyword "{keyword}"'
    if explicit:
        for match in _REQUEST_RE.finditer(text):
            if not _NEGATION_RE.search(text[: match.start()]):
                return f'the visitor asked for a human ("{" ".join(match.group().split())}")'
    return None


def source_of(reason: str) -> HandoffSource:
    """The ``source`` for a reason returned by :func:`handoff_requested`."""
    return "keyword" if reason.startswith("the visitor wrote the keyword") else "request"


def _visitor_parts(visitor: Visitor | str | None) -> tuple[str | None, str | None]:
    if isinstance(visitor, Visitor):
        return visitor.binding, visitor.email
    return visitor, None


async def _contact_email(db: Database, tenant: str, thread_id: str, verified: str | None) -> str | None:
    """Where the team can reach the visitor: their verified email, else the thread's latest lead."""
    if verified:
        return verified
    row = await db.fetch_one(
        "select email from leads where tenant = %s and thread_id = %s order by id desc limit 1", (tenant, thread_id)
    )
    return row["email"] if row else None


def _visitor_message(config: LeadsConfig, contact: str | None) -> str:
    if contact:
        return config.handoff_message
    return "I've asked a member of our team to take over. Please leave your email address so they can reply to you."


async def record_handoff(
    db: Database,
    *,
    tenant: str,
    tenant_config: TenantConfig | None,
    thread_id: str,
    visitor: Visitor | str | None,
    reason: str,
    source: HandoffSource,
    call_id: str | None = None,
) -> dict[str, Any]:
    """Store the handoff and queue the tenant's mail and webhook, in one transaction.

    Returns the record for the caller to answer with and to emit (see :func:`handoff_event`):
    ``id, thread_id, reason, source, created_at, contact_email, duplicate, channels, message,
    needs_contact``. ``duplicate`` is True when this call id, or a handoff of the same thread
    within the cooldown, was recorded already: then nothing new is stored or sent. Past the
    tenant's hourly ceilings :class:`~proxy.leads.caps.FloodLimited` is raised, nothing stored.
    """
    config = tenant_config.leads if tenant_config is not None else LeadsConfig()
    recipients = list(tenant_config.lead_recipients) if tenant_config is not None else []
    visitor_id, verified_email = _visitor_parts(visitor)
    reason = " ".join(reason.split())[:500] or "no reason given"
    contact = await _contact_email(db, tenant, thread_id, verified_email)
    transcript = await load_transcript(db, thread_id, config.transcript_messages)
    customer = await find_customer(db, tenant=tenant, email=contact) if contact else None
    async with db.transaction() as conn:
        # serialises handoffs of one thread, so the cooldown check below cannot race
        await conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"handoff:{tenant}:{thread_id}",))
        cur = await conn.execute(
            f"select {HANDOFF_COLUMNS} from handoffs where tenant = %s and thread_id = %s"
            " and (call_id = %s or created_at > now() - make_interval(mins => %s))"
            " order by id desc limit 1",
            (tenant, thread_id, call_id, config.handoff_cooldown_minutes),
        )
        existing: dict[str, Any] | None = await cur.fetchone()
        if existing is None:
            await lock_tenant(conn, "handoffs", tenant)
            await check_ceilings(
                conn, "handoffs", config.handoff_ceilings, tenant=tenant, thread_id=thread_id, visitor=visitor_id
            )
            cur = await conn.execute(
                "insert into handoffs (tenant, thread_id, visitor, call_id, reason, source, contact_email)"
                f" values (%s, %s, %s, %s, %s, %s, %s) returning {HANDOFF_COLUMNS}",
                (tenant, thread_id, visitor_id, call_id, reason, source, contact),
            )
            inserted: dict[str, Any] | None = await cur.fetchone()
            assert inserted is not None
            row = inserted
            mail = handoff_mail(
                tenant=tenant,
                config=config,
                recipients=recipients,
                handoff=row,
                transcript=transcript,
                customer=customer,
            )
            body = {"handoff": public_record(row), "customer": customer.as_dict() if customer else None}
            channels = await queue_notifications(
                conn,
                tenant=tenant,
                config=config,
                event="handoff.created",
                key=f"handoff:{row['id']}",
                mail=mail,
                webhook_body=body,
                handoff_id=row["id"],
            )
    if existing is not None:
        row, channels = existing, await queued_channels(db, handoff_id=existing["id"])
    contact = row["contact_email"] or contact
    return {
        **public_record(row),
        "contact_email": contact,
        "duplicate": existing is not None,
        "channels": channels,
        "message": _visitor_message(config, contact),
        "needs_contact": contact is None,
    }


async def handoff_for_message(
    db: Database,
    *,
    tenant: str,
    tenant_config: TenantConfig | None,
    thread_id: str,
    visitor: Visitor | str | None,
    text: str,
) -> dict[str, Any] | None:
    """For the turn runner, before the engine runs: record a handoff if the visitor's message
    calls for one under the tenant's settings; None otherwise. Emitting the event is the caller's."""
    config = tenant_config.leads if tenant_config is not None else LeadsConfig()
    reason = handoff_requested(text, config.handoff_keywords, explicit=config.handoff_on_request)
    if reason is None:
        return None
    try:
        return await record_handoff(
            db,
            tenant=tenant,
            tenant_config=tenant_config,
            thread_id=thread_id,
            visitor=visitor,
            reason=reason,
            source=source_of(reason),
        )
    except FloodLimited as exc:  # the model answers as usual; the team has heard enough this hour
        logger.warning("handoff not recorded: over a ceiling", extra={"tenant": tenant, "scope": exc.scope})
        return None


def handoff_event(record: dict[str, Any]) -> dict[str, Any]:
    """The ``handoff`` stream event's data: what the widget tells the visitor.

    The reason is left out on purpose: it may be the model's internal note about the visitor.
    """
    return {
        "handoff_id": record["id"],
        "status": "already_requested" if record.get("duplicate") else "requested",
        "source": record["source"],
        "message": record["message"],
        "needs_contact": record["needs_contact"],
        "notified": bool(record.get("channels")),
    }
