"""A log record as one JSON line: its fields, the request id, extras of any type, the exception."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from proxy.observability.logging import JsonFormatter, request_id


def line(**fields: object) -> dict[str, object]:
    record = logging.makeLogRecord({"name": "proxy.x", "levelno": logging.INFO, "levelname": "INFO", **fields})
    record.created, record.msecs = 1_800_000_000.25, 250.0
    text = JsonFormatter().format(record)
    assert "\n" not in text
    parsed: dict[str, object] = json.loads(text)
    return parsed


def test_the_fields_and_extras_in_order() -> None:
    token = request_id.set("req-9")
    try:
        got = line(msg="turn %s", args=("finished",), thread_id="thr_1", events=3, _private="no")
    finally:
        request_id.reset(token)
    assert list(got.items()) == [
        ("ts", "2027-01-15T08:00:00.250Z"),
        ("level", "info"),
        ("logger", "proxy.x"),
        ("msg", "turn finished"),
        ("request_id", "req-9"),
        ("thread_id", "thr_1"),
        ("events", 3),
    ]


def test_values_json_lacks_are_written_as_text_and_the_exception_is_kept() -> None:
    class Thing:
        def __str__(self) -> str:
            return "a thing"

    try:
        raise ValueError("bad value")
    except ValueError as exc:
        got = line(
            msg="failed",
            thing=Thing(),
            when=datetime(2027, 1, 1, tzinfo=UTC),
            note="é",
            exc_info=(ValueError, exc, exc.__traceback__),
        )
    assert got["thing"] == "a thing"
    assert str(got["when"]).startswith("2027-01-01")
    assert got["note"] == "é"
    assert "ValueError: bad value" in str(got["exc"])
    assert "request_id" not in got
