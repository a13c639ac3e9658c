"""``/metrics`` is not public: only a scraper with the metrics token reads it; the outbox gauge is
cheap however often it is scraped; old stream events and delivered mails are pruned on a
schedule while the service runs, not only when it starts."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from psycopg.types.json import Jsonb

from proxy.api.metrics import OutboxGauge
from proxy.simulator import ServerThread, SimulatorServer
from proxy.store.db import Database
from tests.integration.hardening.conftest import METRICS_TOKEN, SHOP_ORIGIN, serve
from tests.support.waiting import eventually


async def test_metrics_need_the_token(http: httpx.AsyncClient) -> None:
    await http.post("/v1/threads", headers=SHOP_ORIGIN)
    for headers in ({}, SHOP_ORIGIN, {"Authorization": "Bearer guess"}, {"Authorization": METRICS_TOKEN}):
        refused = await http.get("/metrics", headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "invalid_metrics_token"
        assert "proxy_" not in refused.text
    scraped = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200
    assert "proxy_http_requests_total" in scraped.text and "proxy_outbox_messages" in scraped.text


def test_metrics_are_off_without_a_token(pg_url: str, tmp_path: Path, simulator: SimulatorServer) -> None:
    with serve(pg_url, tmp_path, simulator, metrics_token=None) as server:
        response = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 404
    assert "PROXY_METRICS_TOKEN" in response.json()["error"]["message"]


class CountingDatabase:
    """The real database, counting the queries the gauge sends."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.queries = 0

    async def fetch_one(self, query: str, params: Any = None) -> dict[str, Any] | None:
        self.queries += 1
        return await self.db.fetch_one(query, params)


async def test_thirty_concurrent_scrapes_count_the_outbox_once(database: Database) -> None:
    counting = CountingDatabase(database)
    gauge = OutboxGauge(counting, ttl=60)  # type: ignore[arg-type]
    async with anyio.create_task_group() as group:
        for _ in range(30):
            group.start_soon(gauge.refresh)
    assert counting.queries == 1


@pytest.fixture
def pruning_service(pg_url: str, tmp_path: Path, simulator: SimulatorServer) -> Iterator[ServerThread]:
    with serve(pg_url, tmp_path, simulator, prune_interval=0.2, outbox_keep_days=7) as server:
        yield server


async def test_old_rows_are_pruned_while_the_service_runs(pruning_service: ServerThread, database: Database) -> None:
    async with httpx.AsyncClient(base_url=pruning_service.url) as http:
        thread_id = (await http.post("/v1/threads", headers=SHOP_ORIGIN)).json()["thread_id"]
    tag = secrets.token_hex(6)
    # written after start-up, as a running service accumulates them
    await database.execute(
        "insert into run_streams (run_id, thread_id, finished, created_at) values"
        " (%s, %s, true, now() - interval '2 hours'), (%s, %s, false, now())",
        (f"run_old_{tag}", thread_id, f"run_new_{tag}", thread_id),
    )
    for key, state, age in (
        ("old-sent", "sent", "30 days"),
        ("new-sent", "sent", "1 day"),
        ("old-dead", "dead", "30 days"),
    ):
        await database.execute(
            "insert into outbox (tenant, kind, dedupe_key, payload, state, sent_at, created_at)"
            " values ('prune-test', 'email', %s, %s, %s, now() - %s::interval, now() - %s::interval)",
            (f"{key}:{tag}", Jsonb({}), state, age, age),
        )

    async def pruned() -> bool:
        runs = await database.fetch_all("select run_id from run_streams where run_id like %s", (f"%{tag}",))
        mails = await database.fetch_all("select dedupe_key from outbox where dedupe_key like %s", (f"%{tag}",))
        return {r["run_id"] for r in runs} == {f"run_new_{tag}"} and {m["dedupe_key"] for m in mails} == {
            f"new-sent:{tag}",
            f"old-dead:{tag}",
        }

    await eventually(pruned, timeout=15)
