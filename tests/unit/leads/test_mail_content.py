from __future__ import annotations

from datetime import UTC, datetime

import pytest

from proxy.leads.config import LeadsConfig
from proxy.leads.enrich import CustomerSummary, format_amount
from proxy.leads.render import handoff_mail, lead_mail
from proxy.mail.sender import DeliveryError, build_message
from proxy.mail.settings import MailSettings
from proxy.store.threads import StoredMessage

NOW = datetime(2025, 3, 4, 5, 6, tzinfo=UTC)
LEAD = {
    "id": 7,
    "name": 'Eve <script>"',
    "email": "eve@example.com",
    "phone": None,
    "message": "Hi & <b>bye</b>",
    "page_url": None,
    "consent": False,
    "thread_id": "thr_1",
    "created_at": NOW,
}
TRANSCRIPT = [
    StoredMessage(1, "user", "<img src=x onerror=alert(1)>", None, NOW),
    StoredMessage(2, "assistant", "Sure!", None, NOW),
]


def test_lead_mail_escapes_everything_in_html() -> None:
    payload = lead_mail(
        tenant="t",
        config=LeadsConfig(subject_prefix="[t] "),
        recipients=["a@t.test"],
        lead=LEAD,
        transcript=TRANSCRIPT,
        customer=None,
    )
    assert payload["subject"] == '[t] New message from Eve <script>" - eve@example.com'
    assert "<script>" not in payload["html"] and "&lt;script&gt;" in payload["html"]
    assert "<img" not in payload["html"] and "&lt;img" in payload["html"]
    assert "Hi & <b>bye</b>" in payload["text"]
    assert "Visitor: <img src=x onerror=alert(1)>" in payload["text"] and "Assistant: Sure!" in payload["text"]
    assert payload["reply_to"] == {"name": 'Eve <script>"', "email": "eve@example.com"}


def test_customer_section() -> None:
    customer = CustomerSummary("cus_9", "Kim", "k@x.co", NOW, 1, {"eur": 4990, "jpy": 500}, NOW)
    payload = lead_mail(
        tenant="t", config=LeadsConfig(), recipients=["a@t.test"], lead=LEAD, transcript=[], customer=customer
    )
    assert (
        "cus_9 · Kim · customer since 2025-03-04 · 1 paid order · lifetime value 49.90 EUR, 500 JPY" in payload["text"]
    )
    assert format_amount(123456, "usd") == "1,234.56 USD"


def test_handoff_mail_without_contact() -> None:
    handoff = {
        "id": 3,
        "reason": "angry\nabout refund",
        "source": "keyword",
        "thread_id": "thr_1",
        "contact_email": None,
        "created_at": NOW,
    }
    payload = handoff_mail(
        tenant="t", config=LeadsConfig(), recipients=["a@t.test"], handoff=handoff, transcript=TRANSCRIPT, customer=None
    )
    assert payload["subject"] == "Handoff requested: angry about refund"
    assert payload["reply_to"] is None
    assert "no email on file" in payload["text"]


def test_message_has_both_parts_and_a_stable_identity() -> None:
    settings = MailSettings(_env_file=None, from_address="Bot <bot@proxy.test>")  # type: ignore[call-arg]
    payload = lead_mail(
        tenant="t",
        config=LeadsConfig(),
        recipients=["a@t.test", "b@t.test"],
        lead=LEAD,
        transcript=TRANSCRIPT,
        customer=None,
    )
    first = build_message(payload, settings, outbox_id=42, queued_at=NOW)
    again = build_message(payload, settings, outbox_id=42, queued_at=NOW)
    assert first["Message-ID"] == again["Message-ID"] == f"<outbox-42.{int(NOW.timestamp())}@proxy.test>"
    assert first["To"] == "a@t.test, b@t.test" and first["From"] == "Bot <bot@proxy.test>"
    assert first["Date"] == "Tue, 04 Mar 2025 05:06:00 +0000"  # when queued, not when sent
    assert [p.get_content_type() for p in first.iter_parts()] == ["text/plain", "text/html"]


def test_a_mail_without_recipients_is_refused_for_good() -> None:
    with pytest.raises(DeliveryError) as info:
        build_message({"to": [], "text": "x"}, MailSettings(_env_file=None), outbox_id=1, queued_at=NOW)  # type: ignore[call-arg]
    assert info.value.permanent
