"""A visitor's message to a thread a person of the staff holds: kept for that person by the statement
that would open a turn, counted once against each limit, taken even while the worker opens no turns;
and a thread nobody holds pays no round trip to find that out.

The proxy runs in uvicorn over the test Postgres with the scripted engine (no provider); the
statement count runs the app in-process, where the request's statements can be told from the
worker's background ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from proxy.app import create_app
from proxy.console.takeover import take_over
from proxy.simulator import ServerThread
from proxy.store.db import Database
from proxy.store.threads import HeldThread, ThreadStore
from proxy.turns.admission import Admission, LagMonitor
from proxy.visitors import Visitor
from tests.support.admission import HandFedMonitor
from tests.support.apps import directory, make_settings, make_tenant, sse_events
from tests.support.console import Staff, following, sign_in
from tests.support.scripted_engine import Engines, scripted_tools
from tests.support.statements import note_statements, recording
from tests.support.waiting import eventually

NO_LIMITS = {
    "messages_per_minute_per_visitor": 0,
    "messages_per_minute_per_ip": 0,
    "messages_per_minute_per_tenant": 0,
    "threads_per_hour_per_ip": 0,
}
TWO_PER_VISITOR = {**NO_LIMITS, "messages_per_minute_per_visitor": 2}
TWO_PER_TENANT = {**NO_LIMITS, "messages_per_minute_per_tenant": 2}
HOSTS = {"shop": "shop.test", "crowd": "crowd.test", "plain": "plain.test"}


def visitor(tenant: str, name: str) -> dict[str, str]:
    return {"Origin": f"http://{HOSTS[tenant]}", "X-Visitor-Id": f"visitor-{name}"}


def held_app(pg_url: str, data_dir: Path, engines: Engines, monitor: LagMonitor | None = None) -> Litestar:
    tenants = directory(
        make_tenant("shop", [HOSTS["shop"]], client_keys=("ck_held_shop",), limits=TWO_PER_VISITOR),
        make_tenant("crowd", [HOSTS["crowd"]], client_keys=("ck_held_crowd",), limits=TWO_PER_TENANT),
        make_tenant("plain", [HOSTS["plain"]], client_keys=("ck_held_plain",), limits=NO_LIMITS),
    )
    return create_app(
        make_settings(pg_url, data_dir, heartbeat_interval=0.5),
        tenants=tenants,
        tools=scripted_tools(),
        engine_factory=engines.factory,
        admission=Admission(monitor) if monitor else None,
    )


@pytest.fixture(scope="module")
def engines() -> Engines:
    return Engines()


@pytest.fixture(scope="module")
def monitor() -> HandFedMonitor:
    return HandFedMonitor(0.2)


@pytest.fixture(scope="module")
def server(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory, engines: Engines, monitor: HandFedMonitor
) -> Iterator[str]:
    app = held_app(pg_url, tmp_path_factory.mktemp("held"), engines, monitor)
    with ServerThread(app) as running:
        yield running.url


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=20) as client:
        yield client


@asynccontextmanager
async def staff_of(server: str, tenant: str) -> AsyncIterator[Staff]:
    async with httpx.AsyncClient(base_url=server, timeout=20) as client:
        yield await sign_in(client, client_key=f"ck_held_{tenant}", name="Sam")


async def held_thread(http: httpx.AsyncClient, staff: Staff, headers: dict[str, str]) -> str:
    thread_id: str = (await http.post("/v1/threads", headers=headers)).json()["thread_id"]
    assert (await staff.post(f"/threads/{thread_id}/takeover")).status_code == 200
    return thread_id


async def say(http: httpx.AsyncClient, thread_id: str, text: str, headers: dict[str, str]) -> httpx.Response:
    return await http.post(f"/v1/threads/{thread_id}/messages", json={"content": text}, headers=headers)


def assert_held(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    assert [name for name, _, _ in events] == ["human.holding", "done"]
    assert events[0][1]["name"] == "Sam"


async def user_messages(http: httpx.AsyncClient, thread_id: str, headers: dict[str, str]) -> list[str]:
    history = (await http.get(f"/v1/threads/{thread_id}/messages", headers=headers)).json()["messages"]
    return [m["content"] for m in history if m["role"] == "user"]


def turns_of(engines: Engines, tenant: str, marker: str) -> list[str]:
    return [turn.user_text for turn in engines[tenant].turns if marker in turn.user_text] if tenant in engines else []


@pytest.mark.parametrize(("tenant", "scope"), [("shop", "visitor"), ("crowd", "tenant")])
async def test_held_messages_are_kept_for_the_person_and_counted_once(
    http: httpx.AsyncClient, server: str, engines: Engines, tenant: str, scope: str
) -> None:
    headers = visitor(tenant, f"counted-{scope}")
    async with staff_of(server, tenant) as staff:
        thread_id = await held_thread(http, staff, headers)
        async with following(staff.client, f"/console/api/threads/{thread_id}/live") as console:
            for n in (1, 2):  # the limit is two a minute: each held message counts once
                assert_held(await say(http, thread_id, f"held-{scope}-{n}", headers))
                seen = await console.wait_for("message", count=n)
                assert seen[-1]["role"] == "user" and seen[-1]["content"] == f"held-{scope}-{n}"
        over = await say(http, thread_id, f"held-{scope}-3", headers)
        assert over.status_code == 429 and over.json()["error"]["scope"] == scope
    assert await user_messages(http, thread_id, headers) == [f"held-{scope}-1", f"held-{scope}-2"]
    assert turns_of(engines, tenant, f"held-{scope}") == []  # the assistant stayed silent


async def test_a_held_thread_takes_messages_while_the_worker_opens_no_turns(
    http: httpx.AsyncClient, server: str, engines: Engines, monitor: HandFedMonitor
) -> None:
    headers = visitor("shop", "shedding")
    free: str = (await http.post("/v1/threads", headers=headers)).json()["thread_id"]
    async with staff_of(server, "shop") as staff:
        thread_id = await held_thread(http, staff, headers)
        monitor.overload()
        try:
            refused = await say(http, free, "say:nobody holds this one", headers)
            assert refused.status_code == 503 and refused.json()["error"]["code"] == "overloaded"
            async with following(staff.client, f"/console/api/threads/{thread_id}/live") as console:
                for n in (1, 2):  # the 503 counted nothing; each held message counts once
                    assert_held(await say(http, thread_id, f"shed-{n}", headers))
                    assert (await console.wait_for("message", count=n))[-1]["content"] == f"shed-{n}"
            over = await say(http, thread_id, "shed-3", headers)
            assert over.status_code == 429 and over.json()["error"]["scope"] == "visitor"
        finally:
            monitor.recover()
    assert await user_messages(http, thread_id, headers) == ["shed-1", "shed-2"]
    assert await user_messages(http, free, headers) == []
    assert turns_of(engines, "shop", "shed-") == [] and turns_of(engines, "shop", "nobody holds") == []


async def test_other_routes_still_answer_busy_and_keep_nothing(
    http: httpx.AsyncClient, server: str, engines: Engines
) -> None:
    headers = visitor("plain", "routes")
    async with staff_of(server, "plain") as staff:
        thread_id = await held_thread(http, staff, headers)
        answers = [
            await http.post(
                "/open-ai/process-message", json={"threadId": thread_id, "message": "route-old"}, headers=headers
            ),
            await http.post(
                "/v1/ui/chat",
                json={
                    "id": thread_id,
                    "trigger": "submit-message",
                    "messages": [{"role": "user", "parts": [{"type": "text", "text": "route-ui"}]}],
                },
                headers=headers,
            ),
            await http.post(
                "/v1/agui",
                json={"threadId": thread_id, "runId": "r1", "messages": [{"role": "user", "content": "route-agui"}]},
                headers=headers,
            ),
        ]
    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [(409, "thread_busy")] * 3
    assert await user_messages(http, thread_id, headers) == []
    assert turns_of(engines, "plain", "route-") == []


async def test_the_open_statement_keeps_a_held_message_only_when_asked(database: Database) -> None:
    store = ThreadStore(database)
    thread = await store.create(tenant="shop", visitor=Visitor(id="v:held-store"), engine="responses")
    assert (await take_over(database, tenant="shop", thread_id=thread.id, staff_id="user:sam", name="Sam"))[0]
    common: dict[str, Any] = {"tenant": "shop", "visitor": "v:held-store", "lease_seconds": 30}
    busy, _ = await store.lock(thread.id, run_id="run_a", user_text="not kept", **common)
    assert busy == "busy"
    result, held = await store.lock(thread.id, run_id="run_b", user_text="kept", for_holder=True, **common)
    assert result == "held" and isinstance(held, HeldThread)
    assert (held.thread_id, held.staff_name, held.staff_id) == (thread.id, "Sam", "user:sam")
    kept = await store.messages(thread.id)
    assert [(m.id, m.role, m.content, m.run_id) for m in kept] == [(held.user_message_id, "user", "kept", None)]
    assert await store.active_run(thread.id) is None  # no turn, no lease
    common["visitor"] = "v:other"
    stranger, _ = await store.lock(thread.id, run_id="run_c", user_text="x", for_holder=True, **common)
    assert stranger == "missing"
    assert len(await store.messages(thread.id)) == 1


# -- round trips before a turn ----------------------------------------------------------------------


async def test_a_message_opens_its_turn_in_one_statement(
    pg_url: str, tmp_path: Path, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    note_statements(monkeypatch)
    engines = Engines()
    recorded: list[str] = []
    headers = visitor("plain", "one-statement")
    # the test client runs the app on a loop of its own and blocks its caller: requests go from a thread
    with TestClient(held_app(pg_url, tmp_path, engines), base_url="http://proxy.test") as client:
        free = client.post("/v1/threads", headers=headers).json()["thread_id"]
        held = client.post("/v1/threads", headers=headers).json()["thread_id"]
        assert (await take_over(database, tenant="plain", thread_id=held, staff_id="s", name="Sam"))[0]

        def send(thread_id: str, text: str) -> httpx.Response:
            with recording(recorded):  # this request's statements, and its turn's
                return client.post(f"/v1/threads/{thread_id}/messages", json={"content": text}, headers=headers)

        async def holding() -> bool:
            return engines["plain"].holding == ["one"]

        first = await anyio.to_thread.run_sync(send, free, "say:hi")  # its first turn keeps the provider's id
        assert sse_events(first.text)[-1][0] == "done"
        recorded.clear()
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, send, free, "hold:one")
            await eventually(holding)  # the engine runs the turn
            before_the_turn = list(recorded)
            engines["plain"].gates["one"].set()
        # the lease, the message and the history: one round trip, and no look for a takeover first
        assert len(before_the_turn) == 1, [q[:300] for q in before_the_turn]
        assert "update threads set active_run" in before_the_turn[0] and "takeovers" in before_the_turn[0]

        recorded.clear()
        kept = await anyio.to_thread.run_sync(send, held, "to Sam")
        assert [name for name, _, _ in sse_events(kept.text)] == ["human.holding", "done"]
        stored = [q for q in recorded if "insert into messages" in q]
        assert stored == [before_the_turn[0]]  # kept by that same statement
        assert not [q for q in recorded if "takeovers" in q and q != before_the_turn[0]]
