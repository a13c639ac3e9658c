"""A thread's first message asks the provider while the statement creating the thread runs
(proxy.turns.first_turn): the request reaches the provider before the statement returns, nothing
is shown or saved before the thread is stored, and a statement that fails cancels the provider's
request and stores nothing.

The statement is held back by a real lock on the ``threads`` table (taken by the test's own
connection), and made to fail by a trigger; the provider is the simulator over real HTTP.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from proxy.app import create_app
from proxy.simulator import ServerThread, SimulatorServer
from proxy.store.db import Database
from tests.support.apps import directory, make_settings, make_tenant, sse_events
from tests.support.waiting import eventually

ORIGIN = "https://overlap.test"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer() as sim:
        yield sim


@pytest.fixture(scope="module")
def served(pg_url: str, tmp_path_factory: pytest.TempPathFactory, simulator: SimulatorServer) -> Iterator[ServerThread]:
    tenants = directory(
        make_tenant("overlap", ["overlap.test"], engine="chat", base_url=simulator.base_url),
        make_tenant(
            "overlap-staffed",
            ["staffed.overlap.test"],
            engine="chat",
            base_url=simulator.base_url,
            tools=["escalate_to_human"],
        ),
        make_tenant(
            "overlap-conversations",
            ["conversations.overlap.test"],
            engine="responses",
            base_url=simulator.base_url,
            context="conversations",
        ),
    )
    settings = make_settings(pg_url, Path(tmp_path_factory.mktemp("overlap")), provider_max_retries=0)
    with ServerThread(create_app(settings, tenants=tenants)) as server:
        yield server


async def provider_requests(sim: httpx.AsyncClient, **at_least: int) -> list[dict[str, Any]]:
    """The simulator's logged requests, once it saw at least as many as asked (it waits for them)."""
    answer = (await sim.get("/_sim/requests", params={**at_least, "timeout": 10})).json()
    assert answer["satisfied"], answer
    requests: list[dict[str, Any]] = answer["requests"]
    return requests


@asynccontextmanager
async def threads_locked(pg_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """New threads cannot be inserted until the block ends (a transaction of the test's own holds
    the table in share mode)."""
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn, conn.transaction():
        await conn.execute("lock table threads in share mode")
        yield conn


async def waiting_inserts(conn: psycopg.AsyncConnection[Any]) -> int:
    """Statements creating threads that wait for the test's lock (the activity read afresh: inside a
    transaction Postgres would keep showing its first snapshot of it)."""
    await conn.execute("select pg_stat_clear_snapshot()")
    cursor = await conn.execute(
        "select count(*) from pg_stat_activity"
        " where wait_event_type = 'Lock' and query ilike '%%insert into threads%%' and pid <> pg_backend_pid()"
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def visitor() -> str:
    return f"overlap-{secrets.token_hex(6)}"


async def test_the_provider_is_asked_before_the_thread_s_statement_returns(
    served: ServerThread, sim: httpx.AsyncClient, pg_url: str, database: Database
) -> None:
    headers = {"Origin": ORIGIN, "X-Visitor-Id": visitor()}
    async with httpx.AsyncClient(base_url=served.url, headers=headers, timeout=30) as http:
        async with threads_locked(pg_url) as conn:
            started = asyncio.create_task(http.post("/v1/threads", json={"message": "[[reply:Hello early]]"}))
            # the provider got the request while the statement creating the thread still waits
            [asked] = await provider_requests(sim, min_count=1)
            assert asked["path"].endswith("/chat/completions")
            assert await eventually(lambda: waiting_inserts(conn)) == 1
            assert not started.done()  # no response before the thread is stored
        response = await started
    assert response.status_code == 201, response.text
    events = sse_events(response.text)
    thread_id = events[0][1]["thread_id"]
    assert [name for name, _, _ in events][-3:] == ["message.completed", "run.completed", "done"]
    assert "".join(data["delta"] for name, data, _ in events if name == "message.delta") == "Hello early"
    rows = await database.fetch_all(
        "select role, content, run_id from messages where thread_id = %s order by id", (thread_id,)
    )
    assert [(row["role"], row["content"]) for row in rows] == [
        ("user", "[[reply:Hello early]]"),
        ("assistant", "Hello early"),
    ]
    assert rows[0]["run_id"] == rows[1]["run_id"] == events[0][1]["run_id"]
    thread = await database.fetch_one("select active_run from threads where id = %s", (thread_id,))
    assert thread is not None and thread["active_run"] is None  # the turn's end released the lock


@pytest.fixture
async def refused_visitor(database: Database) -> AsyncIterator[str]:
    """A visitor whose threads the database refuses to store (a trigger raising an error of
    insufficient resources, which the API answers with 503)."""
    name = visitor()
    await database.execute(
        "create or replace function refuse_overlap_visitor() returns trigger language plpgsql as $$"
        f" begin if new.visitor = 'v:{name}' then"
        " raise exception 'no room for this thread' using errcode = '53000'; end if; return new; end $$"
    )
    await database.execute(
        "create trigger refuse_overlap_visitor before insert on threads"
        " for each row execute function refuse_overlap_visitor()"
    )
    try:
        yield name
    finally:
        await database.execute("drop trigger refuse_overlap_visitor on threads")
        await database.execute("drop function refuse_overlap_visitor()")


async def test_a_failing_statement_cancels_the_provider_request_and_stores_nothing(
    served: ServerThread, sim: httpx.AsyncClient, pg_url: str, database: Database, refused_visitor: str
) -> None:
    headers = {"Origin": ORIGIN, "X-Visitor-Id": refused_visitor}
    slow = "[[pace:ttft=0,gap=200,tokens=200]] tell me everything"  # a 40-second reply, if let run
    async with httpx.AsyncClient(base_url=served.url, headers=headers, timeout=30) as http:
        async with threads_locked(pg_url) as conn:
            started = asyncio.create_task(http.post("/v1/threads", json={"message": slow}))
            await provider_requests(sim, min_count=1)  # asked while the statement waits
            assert await eventually(lambda: waiting_inserts(conn)) == 1
        response = await started  # the statement ran, and failed
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"]["code"] == "database_unavailable"
        # the provider's request was cancelled: the simulator saw its client go
        [request] = await provider_requests(sim, min_disconnected=1)
        assert request["outcome"] == "disconnected"
        # nothing of the turn was stored, and the visitor has no conversation
        assert (await http.get("/v1/threads")).json()["threads"] == []
    stored = await database.fetch_one("select count(*) as n from threads where visitor = %s", (f"v:{refused_visitor}",))
    assert stored is not None and stored["n"] == 0
    marks = await database.fetch_one(
        "select count(*) as n from turn_marks where tenant = 'overlap' and thread_id not in (select id from threads)"
    )  # the tenant's own: other tests of the shared database erase threads and leave their marks to age out
    assert marks is not None and marks["n"] == 0


async def test_a_failing_statement_deletes_the_conversation_its_turn_made_on_the_provider(
    served: ServerThread, sim: httpx.AsyncClient, pg_url: str, refused_visitor: str
) -> None:
    """The conversation holds the visitor's message and no thread of ours records it: left on the
    provider, nothing (a thread's deletion, an erasure) would ever reach it."""
    headers = {"Origin": "https://conversations.overlap.test", "X-Visitor-Id": refused_visitor}
    slow = "[[pace:ttft=0,gap=200,tokens=200]] my address is 1 Main Street"
    async with httpx.AsyncClient(base_url=served.url, headers=headers, timeout=30) as http:
        async with threads_locked(pg_url) as conn:
            started = asyncio.create_task(http.post("/v1/threads", json={"message": slow}))
            requests = await provider_requests(sim, min_count=2)  # the conversation, then the response
            assert await eventually(lambda: waiting_inserts(conn)) == 1
        response = await started
        assert response.status_code == 503, response.text
    [created] = [entry for entry in requests if entry["method"] == "POST" and entry["path"] == "/v1/conversations"]
    [asked] = [entry for entry in requests if entry["path"] == "/v1/responses"]
    conversation_id = asked["body"]["conversation"]

    async def deleted() -> bool:
        entries = await provider_requests(sim)
        return any(entry["method"] == "DELETE" and entry["path"].endswith(conversation_id) for entry in entries)

    assert created is not None and await eventually(deleted)
    gone = await sim.get(f"/v1/conversations/{conversation_id}", headers={"Authorization": "Bearer sk-test"})
    assert gone.status_code == 404, gone.text


async def test_a_turn_that_fails_before_its_thread_is_stored_marks_the_error_once_it_is(
    pg_url: str, tmp_path: Path, simulator: SimulatorServer, sim: httpx.AsyncClient, database: Database
) -> None:
    """The turn times out while the statement creating its thread still waits: the thread, once
    stored, carries the error as any other thread whose turn failed."""
    tenants = directory(make_tenant("overlap-timeout", ["overlap.test"], engine="chat", base_url=simulator.base_url))
    settings = make_settings(pg_url, tmp_path, provider_max_retries=0, turn_timeout=1.0)
    headers = {"Origin": ORIGIN, "X-Visitor-Id": visitor()}
    slow = "[[pace:ttft=0,gap=200,tokens=200]] tell me everything"
    with ServerThread(create_app(settings, tenants=tenants)) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
            async with threads_locked(pg_url) as conn:
                started = asyncio.create_task(http.post("/v1/threads", json={"message": slow}))
                assert await eventually(lambda: waiting_inserts(conn)) == 1
                await provider_requests(sim, min_disconnected=1)  # past the turn's deadline: given up
            response = await started
    assert response.status_code == 201, response.text
    events = sse_events(response.text)
    thread_id = events[0][1]["thread_id"]
    assert [(name, data.get("code")) for name, data, _ in events][-2:] == [("error", "turn_timeout"), ("done", None)]

    async def marks() -> list[tuple[str, str]]:
        rows = await database.fetch_all("select kind, name from turn_marks where thread_id = %s", (thread_id,))
        return [(row["kind"], row["name"]) for row in rows]

    assert await eventually(marks) == [("error", "turn_timeout")]


async def test_first_messages_of_many_visitors_at_once_each_get_their_reply(
    served: ServerThread, sim: httpx.AsyncClient, database: Database
) -> None:
    """Many first messages together share statements (proxy.store.batching) while their turns run
    ahead: each reply lands in its own thread."""
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:

        async def chat(index: int) -> tuple[str, str]:
            headers = {"Origin": ORIGIN, "X-Visitor-Id": visitor()}
            response = await http.post("/v1/threads", json={"message": f"[[reply:answer {index}]]"}, headers=headers)
            assert response.status_code == 201, response.text
            events = sse_events(response.text)
            assert events[-1][0] == "done"
            return events[0][1]["thread_id"], "".join(d["delta"] for n, d, _ in events if n == "message.delta")

        results = await asyncio.gather(*(chat(index) for index in range(24)))
    assert [text for _, text in results] == [f"answer {index}" for index in range(24)]
    for index, (thread_id, _) in enumerate(results):
        rows = await database.fetch_all(
            "select role, content from messages where thread_id = %s order by id", (thread_id,)
        )
        assert [(row["role"], row["content"]) for row in rows] == [
            ("user", f"[[reply:answer {index}]]"),
            ("assistant", f"answer {index}"),
        ]


async def test_a_handoff_asked_in_the_first_message_is_recorded_against_the_stored_thread(
    served: ServerThread, sim: httpx.AsyncClient, pg_url: str, database: Database
) -> None:
    """The handoff is written about the thread, so it waits for the statement creating it."""
    headers = {"Origin": "https://staffed.overlap.test", "X-Visitor-Id": visitor()}
    async with httpx.AsyncClient(base_url=served.url, headers=headers, timeout=30) as http:
        async with threads_locked(pg_url) as conn:
            started = asyncio.create_task(http.post("/v1/threads", json={"message": "Can I talk to a human please?"}))
            assert await eventually(lambda: waiting_inserts(conn)) == 1
        response = await started
    assert response.status_code == 201, response.text
    events = sse_events(response.text)
    thread_id = events[0][1]["thread_id"]
    assert "handoff" in [name for name, _, _ in events]
    assert events[-1][0] == "done"
    row = await database.fetch_one("select count(*) as n from handoffs where thread_id = %s", (thread_id,))
    assert row is not None and row["n"] == 1
