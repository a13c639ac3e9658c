"""A prompt-injected model (the simulator, told to call a tool 25 times in parallel) or a script
opening conversation after conversation cannot make the service mail the tenant's team again and
again: leads and handoffs have hourly ceilings per thread, visitor and tenant."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import httpx
import pytest

from proxy.simulator import ServerThread, SimulatorServer
from proxy.store.db import Database
from tests.integration.hardening.conftest import serve
from tests.support.apps import sse_events


@pytest.fixture(scope="module")
def flood_service(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory, simulator: SimulatorServer
) -> Iterator[ServerThread]:
    # defaults for the ceilings; a generous tool-round limit so the model's calls all get through
    with serve(pg_url, tmp_path_factory.mktemp("flood"), simulator, shop={"max_tool_rounds": 3}) as server:
        yield server


def lead_call(name: str, email: str) -> str:
    return "[[tool:capture_lead " + json.dumps({"name": name, "email": email, "message": "call me"}) + "]]"


async def turn(http: httpx.AsyncClient, headers: dict[str, str], content: str) -> tuple[str, list[str]]:
    thread_id = (await http.post("/v1/threads", headers=headers)).json()["thread_id"]
    response = await http.post(f"/v1/threads/{thread_id}/messages", json={"content": content}, headers=headers)
    assert response.status_code == 200, response.text
    return thread_id, [name for name, _, _ in sse_events(response.text)]


async def count(database: Database, table: str, thread_ids: list[str]) -> tuple[int, int]:
    """Records of these threads, and the mails queued for them."""
    column = "lead_id" if table == "leads" else "handoff_id"
    row = await database.fetch_one(
        f"select (select count(*) from {table} where thread_id = any(%(t)s)) as records,"
        f" (select count(*) from outbox o join {table} x on x.id = o.{column}"
        " where x.thread_id = any(%(t)s) and o.kind = 'email') as mails",
        {"t": thread_ids},
    )
    assert row is not None
    return row["records"], row["mails"]


async def test_25_parallel_lead_calls_in_one_reply(flood_service: ServerThread, database: Database) -> None:
    headers = {"Origin": "https://shop.test", "X-Visitor-Id": f"flood-{secrets.token_hex(6)}"}
    calls = " ".join(lead_call(f"Person {i}", f"person{i}@example.com") for i in range(25))
    async with httpx.AsyncClient(base_url=flood_service.url, timeout=60) as http:
        thread_id, names = await turn(http, headers, calls)
    assert names.count("tool.finished") == 25 and names[-1] == "done"
    assert await count(database, "leads", [thread_id]) == (3, 3)  # the thread's hourly ceiling


async def test_the_same_email_in_a_thread_merges(flood_service: ServerThread, database: Database) -> None:
    headers = {"Origin": "https://shop.test", "X-Visitor-Id": f"merge-{secrets.token_hex(6)}"}
    calls = " ".join(lead_call(name, "Same.Person@example.com") for name in ("Sam", "Samuel", "S. Person"))
    async with httpx.AsyncClient(base_url=flood_service.url, timeout=60) as http:
        thread_id, _ = await turn(http, headers, calls)
    assert await count(database, "leads", [thread_id]) == (1, 1)


async def test_one_visitor_asking_for_a_person_in_thread_after_thread(
    flood_service: ServerThread, database: Database
) -> None:
    headers = {"Origin": "https://shop.test", "X-Visitor-Id": f"handoff-{secrets.token_hex(6)}"}
    threads = []
    async with httpx.AsyncClient(base_url=flood_service.url, timeout=60) as http:
        for _ in range(6):
            thread_id, names = await turn(http, headers, "[[reply:Sure.]] Can I talk to a human please?")
            assert names[-1] == "done"
            threads.append(thread_id)
    assert await count(database, "handoffs", threads) == (3, 3)  # the visitor's hourly ceiling
