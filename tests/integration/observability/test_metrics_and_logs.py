"""Metrics count what happened; logs carry ids and never the conversation."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from proxy.app import create_app
from proxy.observability.logging import JsonFormatter
from tests.support.apps import METRICS_AUTH, directory, make_settings, make_tenant
from tests.support.scripted_engine import Engines, scripted_tools

ORIGIN = {"Origin": "https://metrics.test"}


@pytest.fixture
async def client(pg_url: str, tmp_path: Path) -> AsyncIterator[AsyncTestClient]:
    tenants = directory(make_tenant("metrics-shop", ["metrics.test"], tools=["lookup"]))
    app = create_app(
        make_settings(pg_url, tmp_path), tenants=tenants, tools=scripted_tools(), engine_factory=Engines().factory
    )
    async with AsyncTestClient(app, base_url="http://proxy.test") as test_client:
        yield test_client


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus' text format (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
        if not labels and line.startswith(f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_turns_tokens_tools_and_errors(client: AsyncTestClient) -> None:
    before = (await client.get("/metrics", headers=METRICS_AUTH)).text
    thread_id = (await client.post("/v1/threads", headers=ORIGIN)).json()["thread_id"]
    url = f"/v1/threads/{thread_id}/messages"
    await client.post(url, json={"content": "say:one two three"}, headers=ORIGIN)
    await client.post(url, json={"content": 'tool:lookup {"word": "x"}'}, headers=ORIGIN)
    await client.post(url, json={"content": "fail:upstream_rate_limited"}, headers=ORIGIN)
    after = (await client.get("/metrics", headers=METRICS_AUTH)).text

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("proxy_turns_total", tenant="metrics-shop", outcome="completed") == 2
    assert grew("proxy_turns_total", tenant="metrics-shop", outcome="upstream_rate_limited") == 1
    assert grew("proxy_upstream_errors_total", tenant="metrics-shop", code="upstream_rate_limited") == 1
    assert grew("proxy_tool_calls_total", tenant="metrics-shop", tool="lookup", ok="true") == 1
    assert grew("proxy_tokens_total", tenant="metrics-shop", direction="output") >= 3
    assert grew("proxy_time_to_first_token_seconds_count", tenant="metrics-shop", engine="scripted") == 3
    assert sample(after, "proxy_open_streams", tenant="metrics-shop") == 0
    assert "proxy_outbox_messages" in after
    assert "proxy_http_requests_total" in after


async def test_logs_have_ids_and_no_message_text(client: AsyncTestClient, caplog: pytest.LogCaptureFixture) -> None:
    marker = "zebra-7731-secret-question"
    caplog.set_level(logging.DEBUG)
    thread_id = (await client.post("/v1/threads", headers=ORIGIN)).json()["thread_id"]
    response = await client.post(
        f"/v1/threads/{thread_id}/messages",
        json={"content": f"say:{marker} and customer jane@example.com"},
        headers={**ORIGIN, "X-Request-ID": "req-abc-123"},
    )
    assert response.headers["x-request-id"] == "req-abc-123"
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert lines, "the turn logged nothing"
    assert not [line for line in lines if marker in line or "jane@example.com" in line]
    finished = [json.loads(line) for line in lines if '"turn finished"' in line]
    assert finished and finished[-1]["thread_id"] == thread_id
    assert finished[-1]["run_id"].startswith("run_") and finished[-1]["outcome"] == "completed"


@pytest.mark.parametrize("enabled", [True, False])
async def test_the_access_log_setting(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, enabled: bool
) -> None:
    tenants = directory(make_tenant("metrics-shop", ["metrics.test"]))
    settings = make_settings(pg_url, tmp_path, access_log=enabled)
    app = create_app(settings, tenants=tenants, tools=scripted_tools(), engine_factory=Engines().factory)
    caplog.set_level(logging.INFO)
    async with AsyncTestClient(app, base_url="http://proxy.test") as client:
        created = await client.post("/v1/threads", headers={**ORIGIN, "X-Request-ID": "req-access"})
        await client.get("/nowhere?q=private", headers=ORIGIN)
    access = [r for r in caplog.records if r.name == "proxy.access"]
    if not enabled:
        assert access == []
        return
    seen = [(vars(r)["method"], vars(r)["path"], vars(r)["status"]) for r in access]
    assert seen == [("POST", "/v1/threads", 201), ("GET", "/nowhere", 404)]
    assert created.status_code == 201 and created.headers["x-request-id"] == "req-access"
    assert "private" not in access[1].getMessage()
