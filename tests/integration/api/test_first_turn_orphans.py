"""The provider conversation of a first message whose thread was never stored, when deleting it
fails: the app's worker tries again until it is gone (``proxy.turns.provider_deletes``), and what
it could not delete before it stopped, the next start deletes.

The thread's statement fails by a trigger on real Postgres; the provider is the simulator, made to
fail its deletes a number of times (``POST /_sim/faults {"deletes": [...]}``).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.app import create_app
from proxy.simulator import ServerThread, SimulatorServer
from proxy.store.db import Database
from proxy.store.retention import RetentionSettings
from proxy.turns import provider_deletes
from tests.integration.api.test_first_turn_overlap import provider_requests, threads_locked, waiting_inserts
from tests.support.apps import directory, make_settings, make_tenant
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

ORIGIN = "https://orphans.test"
SLOW = "[[pace:ttft=0,gap=200,tokens=200]] my address is 1 Main Street"  # a 40-second reply, if let run


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer() as sim:
        yield sim


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provider_deletes, "RETRY_FIRST", 0.05)
    monkeypatch.setattr(provider_deletes, "RETRY_CAP", 0.2)


@pytest.fixture
async def refused_visitor(database: Database) -> AsyncIterator[str]:
    """A visitor whose threads the database refuses to store (a trigger raising an error of
    insufficient resources, which the API answers with 503)."""
    name = f"orphans-{secrets.token_hex(6)}"
    function = f"refuse_{name.replace('-', '_')}"
    await database.execute(
        f"create function {function}() returns trigger language plpgsql as $$"
        f" begin if new.visitor = 'v:{name}' then"
        " raise exception 'no room for this thread' using errcode = '53000'; end if; return new; end $$"
    )
    await database.execute(
        f"create trigger {function} before insert on threads for each row execute function {function}()"
    )
    try:
        yield name
    finally:
        await database.execute(f"drop trigger {function} on threads")
        await database.execute(f"drop function {function}()")


def app_for(pg_url: str, data_dir: Path, simulator: SimulatorServer, tenant: str, **settings: Any) -> ServerThread:
    tenants = directory(make_tenant(tenant, ["orphans.test"], base_url=simulator.base_url, context="conversations"))
    config = make_settings(pg_url, data_dir, provider_max_retries=0, **settings)
    return ServerThread(create_app(config, tenants=tenants))


async def refused_first_message(
    server: ServerThread, visitor: str, sim: httpx.AsyncClient, pg_url: str, failed_deletes: int
) -> str:
    """Send a first message whose thread is refused once its turn has asked the provider (the
    statement held back until then), the provider failing the next ``failed_deletes`` deletes; the
    id of the conversation the turn made."""
    headers = {"Origin": ORIGIN, "X-Visitor-Id": visitor}

    async def probed() -> bool:  # the start-up check made and deleted a conversation of its own
        return any(entry["method"] == "DELETE" for entry in await provider_requests(sim))

    assert await eventually(probed)
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
        async with threads_locked(pg_url) as conn:
            started = asyncio.create_task(http.post("/v1/threads", json={"message": SLOW}))

            async def asked() -> list[dict[str, Any]]:
                return [entry for entry in await provider_requests(sim) if entry["path"] == "/v1/responses"]

            [response_request] = await eventually(asked)  # the turn made its conversation and asked
            faults = await sim.post("/_sim/faults", json={"deletes": ["500"] * failed_deletes})
            assert faults.status_code == 200, faults.text
            assert await eventually(lambda: waiting_inserts(conn)) == 1
        response = await started
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "database_unavailable"
    conversation_id: str = response_request["body"]["conversation"]
    return conversation_id


async def deletes_of(sim: httpx.AsyncClient, conversation_id: str) -> int:
    requests = (await sim.get("/_sim/requests")).json()["requests"]
    return sum(entry["method"] == "DELETE" and entry["path"].endswith(conversation_id) for entry in requests)


async def exists(sim: httpx.AsyncClient, conversation_id: str) -> bool:
    answer = await sim.get(f"/v1/conversations/{conversation_id}", headers={"Authorization": "Bearer sk-test"})
    return answer.status_code == 200


async def test_a_failed_delete_of_the_conversation_is_retried_until_it_is_gone(
    pg_url: str,
    tmp_path: Path,
    simulator: SimulatorServer,
    sim: httpx.AsyncClient,
    database: Database,
    refused_visitor: str,
    quick_retries: None,
) -> None:
    with app_for(pg_url, tmp_path, simulator, "orphans-retried") as server:
        conversation_id = await refused_first_message(
            server, refused_visitor, sim, pg_url, 3
        )  # the turn's try, 2 retries

        async def gone() -> bool:
            return not await exists(sim, conversation_id)

        assert await eventually(gone)
        assert await deletes_of(sim, conversation_id) == 4

        async def unqueued() -> bool:
            row = await database.fetch_one(
                "select count(*) as n from provider_deletions where provider_id = %s", (conversation_id,)
            )
            return row is not None and row["n"] == 0

        assert await eventually(unqueued)


async def test_a_conversation_not_deleted_by_the_shutdown_is_deleted_by_the_next_start(
    pg_url: str,
    tmp_path: Path,
    simulator: SimulatorServer,
    sim: httpx.AsyncClient,
    database: Database,
    refused_visitor: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The turn's own delete fails, and the worker's first retry would come after it stopped; the
    next start's first retention pass deletes it."""
    monkeypatch.setattr(provider_deletes, "RETRY_FIRST", 3600.0)
    with app_for(pg_url, tmp_path, simulator, "orphans-restarted") as server:
        conversation_id = await refused_first_message(server, refused_visitor, sim, pg_url, 1)

        async def queued() -> dict[str, Any] | None:
            return await database.fetch_one(
                "select lease_until > now() as held from provider_deletions where provider_id = %s",
                (conversation_id,),
            )

        assert (await eventually(queued))["held"]  # leased by the worker retrying it
    row = await database.fetch_one(
        "select lease_until is null as due from provider_deletions where provider_id = %s", (conversation_id,)
    )
    assert row is not None and row["due"]  # released for the next start
    assert await exists(sim, conversation_id)

    retention = RetentionSettings(_env_file=None, first_delay=0)  # type: ignore[call-arg]
    with app_for(pg_url, tmp_path, simulator, "orphans-restarted", retention=retention):

        async def gone() -> bool:
            return not await exists(sim, conversation_id)

        assert await eventually(gone)
    assert (
        await database.fetch_one("select 1 from provider_deletions where provider_id = %s", (conversation_id,)) is None
    )
