"""The offline fallback through the real routes: a provider that cannot be reached and a spent budget
each end in an answer from the shop's data for a tenant that chose ``fallback = "offline"``, and in
today's behaviour (an ``error`` event, the budget's message) for one that did not."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from proxy.app import create_app
from proxy.shop.demo_data import SMALL, seed_demo
from proxy.store.db import Database
from proxy.usage.store import UsageStore
from tests.support.apps import directory, make_settings, make_tenant, sse_events

SHOP = "fallback-shop"
BUDGET = {"daily_hard_tokens": 1000, "blocked_message": "Closed for today: leave your e-mail."}


@pytest.fixture(scope="module")
async def shop(database: Database) -> str:
    await seed_demo(database, SHOP, size=SMALL)
    return SHOP


def _closed_port() -> int:
    """A port nothing listens on: the provider is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def app_for(pg_url: str, tmp_path: Path, shop: str) -> Any:
    clients: list[AsyncTestClient] = []

    async def build(*, fallback: str, budget: dict[str, Any] | None = None) -> tuple[AsyncTestClient, str]:
        name = shop  # the tools read the shop seeded under the tenant's name
        tenant = make_tenant(
            name,
            [f"{name}.test"],
            base_url=f"http://127.0.0.1:{_closed_port()}/v1",
            tools=["search_products", "get_product"],
            fallback=fallback,
            shop={"source": "demo"},
            budget=budget or {},
        )
        app = create_app(make_settings(pg_url, tmp_path, provider_max_retries=1), tenants=directory(tenant))
        client = AsyncTestClient(app, base_url="http://proxy.test")
        await client.__aenter__()
        clients.append(client)
        return client, name

    yield build
    for client in clients:
        await client.__aexit__(None, None, None)


async def _ask(client: AsyncTestClient, name: str, text: str) -> list[tuple[str, dict[str, Any], str | None]]:
    headers = {"Origin": f"https://{name}.test"}
    thread_id = (await client.post("/v1/threads", headers=headers)).json()["thread_id"]
    response = await client.post(f"/v1/threads/{thread_id}/messages", json={"content": text}, headers=headers)
    assert response.status_code == 200, response.text
    return sse_events(response.text)


def _reply(events: list[tuple[str, dict[str, Any], str | None]]) -> str:
    return " ".join(data["content"] for name, data, _ in events if name == "message.completed")


async def _jacket_names(database: Database) -> set[str]:
    rows = await database.fetch_all(
        "select name from shop_products where tenant = %s and name ilike '%%jacket%%' and active", (SHOP,)
    )
    return {row["name"] for row in rows}


AsyncBuild = Any


async def test_provider_down_the_offline_model_answers_from_the_shop(app_for: AsyncBuild, database: Database) -> None:
    client, name = await app_for(fallback="offline")
    events = await _ask(client, name, "Do you have a waterproof jacket?")
    names = [event for event, _, _ in events]
    assert "error" not in names, events
    assert names[-1] == "done" and "run.completed" in names
    assert any(event == "tool.finished" and data["name"] == "search_products" for event, data, _ in events)
    reply = _reply(events)
    jackets = await _jacket_names(database)
    assert jackets and any(jacket in reply for jacket in jackets), reply
    assert "{" not in reply


async def test_provider_down_without_the_fallback_ends_with_the_error(app_for: AsyncBuild) -> None:
    client, name = await app_for(fallback="none")
    events = await _ask(client, name, "Do you have a waterproof jacket?")
    errors = [data for event, data, _ in events if event == "error"]
    assert len(errors) == 1 and errors[0]["code"].startswith("upstream_"), errors
    assert events[-1][0] == "done" and _reply(events) == ""


async def _spend(database: Database, name: str) -> None:
    await UsageStore(database).add(
        tenant=name, day=datetime.now(UTC).date(), model="gpt-4.1-mini", input_tokens=900, output_tokens=200
    )


async def test_budget_spent_the_offline_model_answers(app_for: AsyncBuild, database: Database) -> None:
    client, name = await app_for(fallback="offline", budget=BUDGET)
    await _spend(database, name)
    events = await _ask(client, name, "Do you have a waterproof jacket?")
    reply = _reply(events)
    assert BUDGET["blocked_message"] not in reply
    jackets = await _jacket_names(database)
    assert any(jacket in reply for jacket in jackets), reply
    assert events[-1][0] == "done" and "error" not in [event for event, _, _ in events]


async def test_budget_spent_without_the_fallback_shows_the_message(app_for: AsyncBuild, database: Database) -> None:
    client, name = await app_for(fallback="none", budget=BUDGET)
    await _spend(database, name)
    events = await _ask(client, name, "Do you have a waterproof jacket?")
    assert _reply(events) == BUDGET["blocked_message"]
    assert events[-1][0] == "done"
