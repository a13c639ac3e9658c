"""Sending one queued mail with aiosmtplib, and telling a retryable failure from a final one.

The mail is built at send time from the row's payload (recipients, subject, text and HTML parts)
but keeps the row's identity: ``Message-ID`` is derived from the outbox id, so a mail sent again
after a crash is recognisably the same mail, and ``Date`` is when it was queued, not when an
outage ended.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from typing import Any

import aiosmtplib

from proxy.errors import ProxyError
from proxy.mail.settings import MailSettings


class DeliveryError(ProxyError):
    """A failed attempt. ``permanent`` means retrying the same row cannot succeed."""

    code = "delivery_failed"

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def _domain(address: str) -> str:
    _, addr = parseaddr(address)
    return addr.rpartition("@")[2] or "assistant-proxy.local"


def build_message(
    payload: Mapping[str, Any], settings: MailSettings, *, outbox_id: int, queued_at: datetime
) -> EmailMessage:
    """The MIME message: a plain-text part and, when given, an HTML alternative."""
    recipients = [str(r) for r in payload.get("to") or []]
    if not recipients:
        raise DeliveryError("the mail has no recipients (set lead_recipients for the tenant)", permanent=True)
    sender = str(payload.get("from") or settings.default_from())
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    reply_to = payload.get("reply_to")
    if isinstance(reply_to, Mapping) and reply_to.get("email"):
        message["Reply-To"] = Address(display_name=str(reply_to.get("name") or ""), addr_spec=str(reply_to["email"]))
    message["Subject"] = str(payload.get("subject") or "Message from the website assistant")
    message["Date"] = format_datetime(queued_at)
    message["Message-ID"] = f"<outbox-{outbox_id}.{int(queued_at.timestamp())}@{_domain(sender)}>"
    message["Auto-Submitted"] = "auto-generated"
    for name, value in (payload.get("headers") or {}).items():
        message[str(name)] = str(value)
    message.set_content(str(payload.get("text") or ""))
    if payload.get("html"):
        message.add_alternative(str(payload["html"]), subtype="html")
    return message


def _response_error(prefix: str, exc: aiosmtplib.SMTPResponseException) -> DeliveryError:
    # 5xx is the server's final word; 4xx (greylisting, mailbox busy, quota) may pass later
    return DeliveryError(f"{prefix}: {exc.code} {exc.message}".strip(), permanent=exc.code >= 500)


async def send_message(message: EmailMessage, settings: MailSettings) -> str | None:
    """Hand ``message`` to the SMTP server; return a note when some recipients were refused.

    Raises ``DeliveryError`` for a failed attempt.
    """
    if not settings.host:
        raise DeliveryError("SMTP is not configured (set SMTP_HOST)", permanent=False)
    recipients = [addr for _, addr in getaddresses(message.get_all("To", []))]
    envelope_from = parseaddr(str(message["From"]))[1] or None
    try:
        errors, _ = await aiosmtplib.send(
            message,
            sender=envelope_from,
            recipients=recipients,
            hostname=settings.host,
            port=settings.effective_port,
            username=settings.user or None,
            password=settings.password.get_secret_value() if settings.password else None,
            use_tls=settings.use_tls,
            start_tls=None if settings.use_tls else settings.starttls,
            validate_certs=settings.validate_certs,
            timeout=settings.timeout,
        )
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"SMTP authentication failed: {exc.code} {exc.message}", permanent=True) from exc
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refused = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        permanent = all(r.code >= 500 for r in exc.recipients)
        raise DeliveryError(f"all recipients refused: {refused}", permanent=permanent) from exc
    except aiosmtplib.SMTPSenderRefused as exc:
        raise _response_error(f"sender {exc.sender} refused", exc) from exc
    except aiosmtplib.SMTPConnectResponseError as exc:
        raise DeliveryError(f"SMTP server refused the connection: {exc.code} {exc.message}", permanent=False) from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise _response_error("SMTP error", exc) from exc
    except aiosmtplib.SMTPNotSupported as exc:
        # e.g. SMTP_STARTTLS=true against a server without STARTTLS: a setup problem, not an outage
        raise DeliveryError(f"SMTP server does not support what the settings require: {exc}", permanent=True) from exc
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as exc:
        if type(exc) is aiosmtplib.SMTPException and "not supported" in str(exc):
            # aiosmtplib's words for a missing STARTTLS or AUTH extension: the settings ask for
            # something this server does not offer, which no retry will change
            raise DeliveryError(
                f"SMTP server does not support what the settings require: {exc}", permanent=True
            ) from exc
        raise DeliveryError(f"SMTP server unreachable: {type(exc).__name__}: {exc}", permanent=False) from exc
    if errors:
        return "some recipients refused: " + "; ".join(f"{r}: {resp.code} {resp.message}" for r, resp in errors.items())
    return None
