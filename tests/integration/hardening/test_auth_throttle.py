"""Wrong keys are throttled per address; the tenant's shared quota is spent only by turns that run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proxy.limits.config import LimitsConfig
from proxy.simulator import ServerThread, SimulatorServer
from tests.integration.hardening.conftest import SHOP_KEY, SHOP_ORIGIN, serve


@pytest.fixture
def limited(pg_url: str, tmp_path: Path, simulator: SimulatorServer) -> Iterator[ServerThread]:
    limits = LimitsConfig(
        messages_per_minute_per_visitor=0,
        messages_per_minute_per_ip=0,
        messages_per_minute_per_tenant=5,
        threads_per_hour_per_ip=0,
    )
    with serve(pg_url, tmp_path, simulator, shop={"limits": limits}) as server:
        yield server


async def test_guessing_client_keys_is_throttled(limited: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=limited.url) as http:
        answers = []
        for i in range(30):
            guess = await http.get("/v1/admin/leads", headers={"Authorization": f"Bearer ck_guess_{i:04d}"})
            answers.append(guess.status_code)
        assert answers[:10] == [401] * 10
        assert answers[10:] == [429] * 20
        # while throttled the right key is refused too, or guessing would still pay off
        right = await http.get("/v1/admin/leads", headers={"Authorization": f"Bearer {SHOP_KEY}"})
        assert right.status_code == 429
        assert right.json()["error"]["scope"] == "auth" and int(right.headers["Retry-After"]) > 0
        # a wrong key next to a site's Origin counts too (the admin API's 403 would otherwise confirm nothing)
        assert (
            await http.get("/v1/admin/leads", headers={**SHOP_ORIGIN, "Authorization": "Bearer x"})
        ).status_code == 429
        # visitors of the site, who send no key, are not affected
        assert (await http.post("/v1/threads", headers=SHOP_ORIGIN)).status_code == 201


async def test_messages_to_missing_threads_do_not_spend_the_tenants_quota(limited: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=limited.url, timeout=30) as http:
        for i in range(12):
            missing = await http.post(
                f"/v1/threads/thr_missing{i:04d}/messages", json={"content": "hi"}, headers=SHOP_ORIGIN
            )
            assert missing.status_code == 404, missing.text
        thread_id = (await http.post("/v1/threads", headers=SHOP_ORIGIN)).json()["thread_id"]
        statuses = []
        for _ in range(6):
            sent = await http.post(
                f"/v1/threads/{thread_id}/messages", json={"content": "[[reply:ok]]"}, headers=SHOP_ORIGIN
            )
            statuses.append(sent.status_code)
        assert statuses == [200] * 5 + [429]  # the tenant's 5 a minute, spent by real turns only
