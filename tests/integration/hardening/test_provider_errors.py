"""What a visitor is told when the provider fails: a neutral message, never the provider's words
(which may quote the site's key); the detail goes to the log and the metrics."""

from __future__ import annotations

import logging

import httpx
import pytest

from proxy.simulator import ServerThread
from tests.integration.hardening.conftest import METRICS_TOKEN
from tests.support.apps import sse_events


async def failed_turn(http: httpx.AsyncClient, origin: str) -> tuple[dict[str, object], str]:
    headers = {"Origin": origin}
    thread_id = (await http.post("/v1/threads", headers=headers)).json()["thread_id"]
    response = await http.post(f"/v1/threads/{thread_id}/messages", json={"content": "Hello"}, headers=headers)
    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    assert [name for name, _, _ in events][-2:] == ["error", "done"]
    return events[-2][1], response.text


async def test_a_refused_key_is_not_shown_to_the_visitor(
    http: httpx.AsyncClient, service: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    error, body = await failed_turn(http, "https://badkey.test")
    assert error["code"] == "upstream_auth"
    for secret in ("Incorrect API key", "sk-inval", "9876", "****"):
        assert secret not in body
    assert error["message"] == "The assistant is unavailable right now. Please try again later."
    # the operator sees what the provider said
    logged = [r for r in caplog.records if getattr(r, "provider_detail", None)]
    assert logged and "Incorrect API key" in logged[-1].provider_detail  # type: ignore[attr-defined]
    metrics = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert 'proxy_upstream_errors_total{code="upstream_auth",tenant="badkey"}' in metrics.text


async def test_a_provider_nobody_answers_for_is_unavailable_not_slow(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    error, body = await failed_turn(http, "https://down.test")
    assert (error["code"], error["retryable"]) == ("upstream_unavailable", True)
    assert "127.0.0.1" not in body and "refused" not in body.lower()
    # the operator's log says why it could not be reached
    causes = [r.cause for r in caplog.records if getattr(r, "cause", None)]  # type: ignore[attr-defined]
    assert causes and "ConnectionRefusedError" in causes[-1]
