"""The mails the tenant receives about a lead or a handoff: a plain-text and an HTML part.

Rendered when the notification is queued, so the outbox row holds exactly what will be sent
(the conversation as it was then), and a later change to the thread cannot alter a queued mail.
Everything the visitor or the model wrote is escaped in the HTML part.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from proxy.leads.config import LeadsConfig
from proxy.leads.enrich import CustomerSummary
from proxy.store.db import Database
from proxy.store.threads import StoredMessage, ThreadStore

_SNIPPET = 600


async def load_transcript(db: Database, thread_id: str, limit: int) -> list[StoredMessage]:
    if limit <= 0:
        return []
    return await ThreadStore(db).messages(thread_id, limit=limit)


def _short(text: str, limit: int = _SNIPPET) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M %Z").strip() if value else ""


def _one_line(value: str, limit: int = 120) -> str:
    return _short(" ".join(value.split()), limit)


def _customer_line(customer: CustomerSummary) -> str:
    parts = [customer.customer_id]
    if customer.name:
        parts.append(customer.name)
    if customer.since:
        parts.append(f"customer since {customer.since:%Y-%m-%d}")
    parts.append(f"{customer.orders} paid order{'s' if customer.orders != 1 else ''}")
    parts.append(f"lifetime value {customer.lifetime_value_text()}")
    if customer.last_order_at:
        parts.append(f"last order {customer.last_order_at:%Y-%m-%d}")
    return " · ".join(parts)


def _text(
    title: str,
    facts: Sequence[tuple[str, str]],
    body_label: str,
    body: str,
    customer: CustomerSummary | None,
    transcript: Sequence[StoredMessage],
    footer: str,
) -> str:
    width = max((len(k) for k, _ in facts), default=0) + 1
    lines = [title, "", *(f"{(k + ':').ljust(width)} {v}" for k, v in facts if v)]
    if body:
        lines += ["", f"{body_label}:", *("  " + line for line in body.splitlines())]
    if customer is not None:
        lines += ["", "Known customer (Stripe):", "  " + _customer_line(customer)]
    if transcript:
        lines += ["", f"Conversation (last {len(transcript)} messages):"]
        for m in transcript:
            who = "Visitor" if m.role == "user" else "Assistant"
            lines.append(f"  {who}: " + _short(m.content).replace("\n", "\n    "))
    lines += ["", footer]
    return "\n".join(lines) + "\n"


def _html(
    title: str,
    facts: Sequence[tuple[str, str]],
    body_label: str,
    body: str,
    customer: CustomerSummary | None,
    transcript: Sequence[StoredMessage],
    footer: str,
) -> str:
    rows = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{escape(k)}</th><td>{escape(v)}</td></tr>'
        for k, v in facts
        if v
    )
    parts = [f'<h2 style="margin:0 0 12px">{escape(title)}</h2>', f"<table>{rows}</table>"]
    if body:
        parts.append(f'<h3>{escape(body_label)}</h3><p style="white-space:pre-wrap">{escape(body)}</p>')
    if customer is not None:
        parts.append(f"<h3>Known customer (Stripe)</h3><p>{escape(_customer_line(customer))}</p>")
    if transcript:
        items = "".join(
            f'<p style="margin:4px 0"><b>{"Visitor" if m.role == "user" else "Assistant"}:</b> '
            f'<span style="white-space:pre-wrap">{escape(_short(m.content))}</span></p>'
            for m in transcript
        )
        parts.append(f"<h3>Conversation (last {len(transcript)} messages)</h3>{items}")
    parts.append(f'<p style="color:#666">{escape(footer)}</p>')
    return '<!doctype html><html><body style="font-family:sans-serif">' + "".join(parts) + "</body></html>"


def lead_mail(
    *,
    tenant: str,
    config: LeadsConfig,
    recipients: Sequence[str],
    lead: dict[str, Any],
    transcript: Sequence[StoredMessage],
    customer: CustomerSummary | None,
) -> dict[str, Any]:
    """The outbox payload announcing a lead; its Reply-To is the visitor."""
    name, email = lead["name"], lead["email"]
    facts = [
        ("Name", name),
        ("Email", email),
        ("Phone", lead.get("phone") or ""),
        ("Page", lead.get("page_url") or ""),
        ("Consent to contact", "yes" if lead.get("consent") else "not given"),
        ("Site", tenant),
        ("Thread", lead["thread_id"]),
        ("Received", _when(lead.get("created_at"))),
    ]
    title = f"New lead from the website assistant: {_one_line(name)}"
    footer = f"Reply to this mail to answer {_one_line(name, 60)} at {email}."
    args = (title, facts, "Message", lead.get("message") or "", customer, transcript, footer)
    return {
        "to": list(recipients),
        "from": config.from_address,
        "reply_to": {"name": name, "email": email},
        "subject": f"{config.subject_prefix}New message from {_one_line(name, 80)} - {email}",
        "text": _text(*args),
        "html": _html(*args),
        "headers": {"X-Proxy-Tenant": tenant, "X-Proxy-Lead": str(lead["id"])},
    }


def handoff_mail(
    *,
    tenant: str,
    config: LeadsConfig,
    recipients: Sequence[str],
    handoff: dict[str, Any],
    transcript: Sequence[StoredMessage],
    customer: CustomerSummary | None,
) -> dict[str, Any]:
    """The outbox payload asking the team to take over a conversation."""
    contact = handoff.get("contact_email")
    facts = [
        ("Reason", _one_line(handoff["reason"], 300)),
        (
            "Triggered by",
            {"tool": "the assistant", "keyword": "a keyword", "request": "the visitor"}.get(
                handoff["source"], handoff["source"]
            ),
        ),
        ("Visitor email", contact or "unknown: the visitor has not left an address yet"),
        ("Site", tenant),
        ("Thread", handoff["thread_id"]),
        ("Requested", _when(handoff.get("created_at"))),
    ]
    title = "A visitor needs a human"
    footer = (
        f"Reply to this mail to answer the visitor at {contact}."
        if contact
        else "The visitor has no email on file; the assistant asks for one. Check the lead list for this thread."
    )
    args = (title, facts, "", "", customer, transcript, footer)
    return {
        "to": list(recipients),
        "from": config.from_address,
        "reply_to": {"name": "", "email": contact} if contact else None,
        "subject": f"{config.subject_prefix}Handoff requested: {_one_line(handoff['reason'], 80)}",
        "text": _text(*args),
        "html": _html(*args),
        "headers": {"X-Proxy-Tenant": tenant, "X-Proxy-Handoff": str(handoff["id"])},
    }
