"""The lead and handoff tools the model may call.

``capture_lead`` is the current one; ``sendEmail`` keeps the old service's name, arguments and
messages (``Error: Missing name``) so existing assistants work unchanged. Both store the lead and
queue its mail in one transaction and only then answer, and the answer says what really happened:
the lead is saved and the mail is queued, not that it was delivered.
"""

from __future__ import annotations

import json
from typing import Any

from proxy.leads.config import LeadsConfig
from proxy.leads.fields import MAX_EMAIL, MAX_MESSAGE, MAX_NAME, LeadFields, clean_page_url, parse_lead, text_field
from proxy.leads.handoff import handoff_event, record_handoff
from proxy.leads.store import Saved, queued_channels, save_lead
from proxy.store.db import Database
from proxy.tools.registry import Tool, ToolContext, ToolError, ToolRegistry
from proxy.turns.events import HANDOFF, LEAD_CAPTURED

CAPTURE_LEAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": MAX_NAME, "description": "The visitor's name"},
        "email": {"type": "string", "maxLength": MAX_EMAIL, "description": "The visitor's email address"},
        "message": {
            "type": "string",
            "maxLength": MAX_MESSAGE,
            "description": "What the visitor wants, in their words",
        },
        "phone": {"type": "string", "maxLength": 40, "description": "Phone number, only if the visitor gave one"},
        "consent": {
            "type": "boolean",
            "description": "True only if the visitor agreed to be contacted by the team",
        },
    },
    "required": ["name", "email"],
    "additionalProperties": False,
}

SEND_EMAIL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "The visitor's name"},
        "email": {"type": "string", "description": "The visitor's email address"},
        "message": {"type": "string", "description": "The message for the site owner"},
    },
    "required": ["name", "email", "message"],
}

ESCALATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reason": {
            "type": "string",
            "maxLength": 500,
            "description": "Why a person should take over, in one sentence, for the team",
        }
    },
    "required": ["reason"],
    "additionalProperties": False,
}


def _db(ctx: ToolContext) -> Database:
    if ctx.db is None:
        raise ToolError("the details could not be saved because storage is unavailable; apologise and try later")
    return ctx.db


def _config(ctx: ToolContext) -> tuple[LeadsConfig, list[str]]:
    if ctx.tenant_config is None:
        return LeadsConfig(), []
    return ctx.tenant_config.leads, list(ctx.tenant_config.lead_recipients)


async def _store(ctx: ToolContext, fields: LeadFields, source: str) -> tuple[Saved, list[str]]:
    config, recipients = _config(ctx)
    if config.require_consent and not fields.consent:
        raise ToolError(
            "the visitor has not agreed to be contacted. Ask whether the team may contact them, then call"
            " again with consent=true; nothing was saved"
        )
    db = _db(ctx)
    saved = await save_lead(
        db,
        tenant=ctx.tenant,
        config=config,
        recipients=recipients,
        thread_id=ctx.thread_id,
        visitor=ctx.visitor.binding,
        call_id=ctx.call_id,
        fields=fields,
        page_url=clean_page_url(ctx.page_url),
        source=source,
    )
    channels = saved.channels if saved.created else await queued_channels(db, lead_id=saved.row["id"])
    return saved, channels


def _summary(saved: Saved, channels: list[str]) -> str:
    email = saved.row["email"]
    prefix = "Saved" if saved.created else "Already saved"
    if "email" in channels:
        return f"{prefix}; the team has been sent the details and will reply by email to {email}."
    return f"{prefix}; the team will see it in their list of enquiries and reply to {email}."


def _confirm(ctx: ToolContext, saved: Saved) -> None:
    """Tell the visitor's widget, not only the model, that the details are safe with us."""
    ctx.emit(
        LEAD_CAPTURED,
        {
            "lead_id": saved.row["id"],
            "status": "saved" if saved.created else "already_saved",
            "message": f"Thanks! The team will reply by email to {saved.row['email']}.",
        },
    )


async def capture_lead(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    fields = parse_lead(args, message_required=False)
    saved, channels = await _store(ctx, fields, "capture_lead")
    _confirm(ctx, saved)
    return {
        "status": "saved" if saved.created else "already_saved",
        "lead_id": saved.row["id"],
        "message": _summary(saved, channels),
    }


async def send_email(ctx: ToolContext, args: dict[str, Any]) -> str:
    """The old tool: same arguments, same ``Missing <field>`` errors, a JSON string as output."""
    fields = parse_lead(args, message_required=True)
    saved, channels = await _store(ctx, fields, "sendEmail")
    _confirm(ctx, saved)
    return json.dumps(_summary(saved, channels), ensure_ascii=False)


async def escalate_to_human(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    reason = text_field(args, "reason", 500, required=True, single_line=False)
    record = await record_handoff(
        _db(ctx),
        tenant=ctx.tenant,
        tenant_config=ctx.tenant_config,
        thread_id=ctx.thread_id,
        visitor=ctx.visitor,
        reason=reason,
        source="tool",
        call_id=ctx.call_id,
    )
    ctx.emit(HANDOFF, handoff_event(record))
    answer: dict[str, Any] = {
        "status": "already_requested" if record["duplicate"] else "requested",
        "team_notified": bool(record["channels"]),
        "tell_the_visitor": record["message"],
    }
    if record["needs_contact"]:
        answer["next_step"] = "Ask for the visitor's name and email address, then save them with capture_lead."
    return answer


def register_lead_tools(registry: ToolRegistry) -> None:
    """Add ``capture_lead``, ``sendEmail`` and ``escalate_to_human``; tenants enable them by name."""
    registry.register(
        Tool(
            "capture_lead",
            "Save the visitor's contact details and request so the team can reply by email. Call it once the"
            " visitor has given at least their name and email address.",
            CAPTURE_LEAD_SCHEMA,
            capture_lead,
        )
    )
    registry.register(
        Tool(
            "sendEmail",
            "Send a message from the visitor to the site owner, with the visitor's name and email address.",
            SEND_EMAIL_SCHEMA,
            send_email,
        )
    )
    registry.register(
        Tool(
            "escalate_to_human",
            "Hand the conversation to a person on the team: when the visitor asks for one, is upset, or needs"
            " something you cannot do. The team is notified with the conversation.",
            ESCALATE_SCHEMA,
            escalate_to_human,
        )
    )
