"""Budgets through the real routes: usage recorded per turn, the fallback model, no provider call when blocked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from proxy.app import create_app
from proxy.store.db import Database
from proxy.usage.store import UsageStore
from tests.support.apps import directory, make_settings, make_tenant, sse_events
from tests.support.scripted_engine import Engines, scripted_tools
from tests.support.waiting import eventually

BUDGET = {
    "daily_soft_tokens": 1000,
    "daily_hard_tokens": 2000,
    "fallback_model": "gpt-4.1-nano",
    "blocked_message": "We are closed for today - leave your e-mail and we will write back.",
}


@pytest.fixture
def name() -> str:
    return f"bud{uuid.uuid4().hex[:8]}"


@pytest.fixture
def engines() -> Engines:
    return Engines()


@pytest.fixture
async def client(pg_url: str, tmp_path: Path, name: str, engines: Engines) -> AsyncIterator[AsyncTestClient]:
    tenants = directory(make_tenant(name, [f"{name}.test"], model="gpt-4.1-mini", budget=BUDGET))
    app = create_app(
        make_settings(pg_url, tmp_path), tenants=tenants, tools=scripted_tools(), engine_factory=engines.factory
    )
    async with AsyncTestClient(app, base_url="http://proxy.test") as test_client:
        yield test_client


async def turn(client: AsyncTestClient, name: str, text: str) -> list[tuple[str, dict, str | None]]:
    headers = {"Origin": f"https://{name}.test"}
    thread_id = (await client.post("/v1/threads", headers=headers)).json()["thread_id"]
    response = await client.post(f"/v1/threads/{thread_id}/messages", json={"content": text}, headers=headers)
    assert response.status_code == 200, response.text
    return sse_events(response.text)


async def used(database: Database, name: str) -> int:
    return await UsageStore(database).day_total(name, datetime.now(UTC).date())


async def test_each_turn_is_recorded_with_its_model(
    client: AsyncTestClient, name: str, database: Database, engines: Engines
) -> None:
    events = await turn(client, name, "say:one two three")  # the scripted engine reports 3 + 3 tokens
    assert events[-1][0] == "done"
    assert engines[name].turns[-1].model in (None, "gpt-4.1-mini")

    async def recorded() -> list:
        return await UsageStore(database).rows(since=datetime.now(UTC).date(), tenant=name)

    rows = await eventually(recorded)
    assert [(r.model, r.input_tokens, r.output_tokens, r.turns) for r in rows] == [("gpt-4.1-mini", 3, 3, 1)]


async def test_past_the_soft_cap_the_fallback_model_answers(
    client: AsyncTestClient, name: str, database: Database, engines: Engines
) -> None:
    await UsageStore(database).add(
        tenant=name, day=datetime.now(UTC).date(), model="gpt-4.1-mini", input_tokens=900, output_tokens=200
    )
    events = await turn(client, name, "say:cheaper now")
    assert events[-1][0] == "done"
    assert engines[name].turns[-1].model == "gpt-4.1-nano"

    async def fallback_recorded() -> bool:
        rows = await UsageStore(database).rows(since=datetime.now(UTC).date(), tenant=name)
        return any(r.model == "gpt-4.1-nano" for r in rows)

    await eventually(fallback_recorded)


async def test_past_the_hard_cap_no_provider_call_and_the_visitor_is_told(
    client: AsyncTestClient, name: str, database: Database, engines: Engines
) -> None:
    await UsageStore(database).add(
        tenant=name, day=datetime.now(UTC).date(), model="gpt-4.1-mini", input_tokens=1500, output_tokens=600
    )
    before = await used(database, name)
    events = await turn(client, name, "say:anyone there")
    assert events[-1][0] == "done"
    assert BUDGET["blocked_message"] in str([data for _, data, _ in events])
    assert engines[name].turns == []  # the engine (the provider) was never asked
    assert await used(database, name) == before
