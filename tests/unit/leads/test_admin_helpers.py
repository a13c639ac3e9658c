from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone

import pytest

from proxy.api.errors import ApiError
from proxy.leads.admin import leads_csv, parse_when
from proxy.leads.store import delivery_status


def test_parse_when() -> None:
    assert parse_when(None, "since") is None
    assert parse_when("2025-01-31", "since") == datetime(2025, 1, 31, tzinfo=UTC)
    assert parse_when("2025-01-31", "until", end=True) == datetime(2025, 2, 1, tzinfo=UTC)
    assert parse_when("2025-01-31T10:00:00Z", "since") == datetime(2025, 1, 31, 10, tzinfo=UTC)
    assert parse_when("2025-01-31T10:00:00 02:00", "since") == datetime(
        2025, 1, 31, 10, tzinfo=timezone(timedelta(hours=2))
    )
    assert parse_when("2025-01-31T10:00:00", "since") == datetime(2025, 1, 31, 10, tzinfo=UTC)
    with pytest.raises(ApiError) as info:
        parse_when("yesterday", "since")
    assert info.value.code == "invalid_date"


def test_delivery_status() -> None:
    assert delivery_status([]) == "none"
    assert delivery_status([{"state": "sent"}, {"state": "sent"}]) == "sent"
    assert delivery_status([{"state": "sent"}, {"state": "pending"}]) == "pending"
    assert delivery_status([{"state": "sending"}, {"state": "dead"}]) == "dead"


def test_csv_neutralises_formulas() -> None:
    row = {
        "id": 1,
        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
        "name": "@SUM(A1)",
        "email": "a@b.co",
        "phone": "+1 555",
        "message": "-2+3",
        "page_url": None,
        "consent": True,
        "source": "capture_lead",
        "thread_id": "thr",
        "visitor": None,
        "delivery_status": "sent",
        "deliveries": [{"kind": "webhook", "state": "sent"}, {"kind": "email", "state": "sent", "attempts": 1}],
    }
    [parsed] = list(csv.DictReader(io.StringIO(leads_csv([row]))))
    assert parsed["name"] == "'@SUM(A1)" and parsed["message"] == "'-2+3" and parsed["phone"] == "'+1 555"
    assert parsed["created_at"] == "2025-01-01T00:00:00+00:00"
    assert (parsed["email_state"], parsed["email_attempts"]) == ("sent", "1")
