"""A worker's retries of the provider conversations of threads never stored
(``proxy.turns.provider_deletes``), against the simulator failing its deletes a number of times and
real Postgres: retried until done, each failure logged with the conversation's id; queued in
``provider_deletions`` meanwhile (leased: other workers' drains leave it), released at shutdown for
the next start, whose drain deletes it; and without a reachable database, still retried, and left
in an error naming it at shutdown."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from proxy.engines.base import Engine
from proxy.engines.factory import build_engine, shared_http_client
from proxy.simulator import SimulatorServer
from proxy.store import provider_copies
from proxy.store.db import Database
from proxy.turns.provider_deletes import ProviderDeletes, running_provider_deletes
from tests.support.apps import make_settings, make_tenant
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

LOGGER = "proxy.turns.provider_deletes"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer() as sim:
        yield sim


@pytest.fixture
def tenant() -> str:
    """A tenant of its own: the drains here take only its rows of the shared database."""
    return f"orphans-{secrets.token_hex(4)}"


@asynccontextmanager
async def engine_of(tenant: str, simulator: SimulatorServer, tmp_path: Path) -> AsyncIterator[Engine]:
    """The tenant's responses engine on the simulator, as the app builds it (no SDK retries: one
    failure each)."""
    settings = make_settings("postgresql://unused", tmp_path, provider_max_retries=0)
    async with shared_http_client(settings) as pool:
        config = make_tenant(tenant, [f"{tenant}.test"], base_url=simulator.base_url, context="conversations")
        yield build_engine(config, pool, settings)


@asynccontextmanager
async def retrying(deletes: ProviderDeletes) -> AsyncIterator[ProviderDeletes]:
    async with anyio.create_task_group() as group:
        group.start_soon(deletes.run)
        yield deletes
        group.cancel_scope.cancel()


async def fail_deletes(sim: httpx.AsyncClient, times: int) -> None:
    answer = await sim.post("/_sim/faults", json={"deletes": ["500"] * times})
    assert answer.status_code == 200, answer.text


async def exists(sim: httpx.AsyncClient, conversation_id: str) -> bool:
    answer = await sim.get(f"/v1/conversations/{conversation_id}", headers={"Authorization": "Bearer sk-test"})
    assert answer.status_code in (200, 404), answer.text
    return answer.status_code == 200


async def row_of(database: Database, provider_id: str) -> dict[str, object] | None:
    return await database.fetch_one(
        "select id, lease_until is null as due, lease_until > now() + interval '1 minute' as held, last_error"
        " from provider_deletions where provider_id = %s",
        (provider_id,),
    )


def unreachable() -> Database:
    """A database that is not there (its pool never opened: every statement fails at once)."""
    return Database(AsyncConnectionPool("postgresql://127.0.0.1:1/none", open=False))


async def test_a_failed_delete_is_retried_until_it_is_done(
    simulator: SimulatorServer,
    sim: httpx.AsyncClient,
    database: Database,
    tenant: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with engine_of(tenant, simulator, tmp_path) as engine:
        conversation = await engine.create_conversation()
        assert conversation is not None
        await fail_deletes(sim, 3)
        with caplog.at_level(logging.INFO, logger=LOGGER):
            async with retrying(ProviderDeletes(database, first=0.02, cap=0.1)) as deletes:
                deletes.put(tenant, engine, conversation, "the turn's try failed")
                assert deletes.pending == [conversation]
                await eventually(lambda: done(deletes))

    assert not await exists(sim, conversation)
    records = [r for r in caplog.records if r.name == LOGGER]
    failures = [r for r in records if r.levelno == logging.WARNING]
    assert [getattr(r, "provider_id", None) for r in failures] == [conversation] * 3
    assert [getattr(r, "attempts", None) for r in failures] == [2, 3, 4]
    assert all(conversation in r.getMessage() and tenant in r.getMessage() for r in failures)
    [deleted] = [r for r in records if r.levelno == logging.INFO]
    assert f"deleted the provider conversation {conversation}" in deleted.getMessage()
    assert await row_of(database, conversation) is None  # queued meanwhile, gone once done


async def done(deletes: ProviderDeletes) -> bool:
    return not deletes.pending


async def test_what_is_left_at_shutdown_is_released_to_the_next_start(
    simulator: SimulatorServer,
    sim: httpx.AsyncClient,
    database: Database,
    tenant: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Retried only after an hour: queued, leased, and still there when the worker stops."""
    async with engine_of(tenant, simulator, tmp_path) as engine:
        conversation = await engine.create_conversation()
        assert conversation is not None
        deletes = ProviderDeletes(database, first=3600, cap=3600)
        async with retrying(deletes):
            deletes.put(tenant, engine, conversation, "the provider was away")
            row = await eventually(lambda: row_of(database, conversation))
            assert row["held"] and row["last_error"] == "the provider was away"
            # another worker's drain leaves it to the worker retrying it
            assert await provider_copies.drain(database, {tenant: engine}) == 0
        with caplog.at_level(logging.INFO, logger=LOGGER):
            await deletes.close()

        [left] = [r for r in caplog.records if r.name == LOGGER]
        assert left.levelno == logging.WARNING
        assert "the next start tries again" in left.getMessage()
        assert f"{conversation} (tenant {tenant})" in left.getMessage()
        assert (await row_of(database, conversation) or {}).get("due")
        assert await exists(sim, conversation)
        # the next start's drain (its retention pass) deletes it
        assert await provider_copies.drain(database, {tenant: engine}) == 1

    assert not await exists(sim, conversation)
    assert await row_of(database, conversation) is None


async def test_without_the_database_it_is_retried_still_and_named_at_shutdown(
    simulator: SimulatorServer,
    sim: httpx.AsyncClient,
    tenant: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with engine_of(tenant, simulator, tmp_path) as engine:
        retried, kept = await engine.create_conversation(), await engine.create_conversation()
        assert retried is not None and kept is not None
        await fail_deletes(sim, 1)
        deletes = ProviderDeletes(unreachable(), first=0.02, cap=0.1)
        async with retrying(deletes):
            deletes.put(tenant, engine, retried, "the turn's try failed")
            await eventually(lambda: done(deletes))
            assert not await exists(sim, retried)
        with caplog.at_level(logging.ERROR, logger=LOGGER):
            deletes.put(tenant, engine, kept, "the turn's try failed")  # not retried: closed at once
            await deletes.close()

    [lost] = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.ERROR]
    assert f"{kept} (tenant {tenant})" in lost.getMessage()
    assert "delete them at the provider" in lost.getMessage()
    assert await exists(sim, kept)


async def test_a_conversation_put_after_the_shutdown_is_named_in_an_error(
    simulator: SimulatorServer, tenant: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with engine_of(tenant, simulator, tmp_path) as engine:
        deletes = ProviderDeletes(None)
        await deletes.close()
        with caplog.at_level(logging.ERROR, logger=LOGGER):
            deletes.put(tenant, engine, "conv_late", "the turn's try failed")

    [late] = [r for r in caplog.records if r.name == LOGGER]
    assert "conv_late (tenant" in late.getMessage() and "delete it at the provider" in late.getMessage()
    assert deletes.pending == []


class Signalling:
    """The engine's deletes, saying when one has succeeded."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.deleted = anyio.Event()

    async def delete_conversation(self, conversation_id: str | None) -> None:
        await self.engine.delete_conversation(conversation_id)
        self.deleted.set()


async def test_a_shutdown_as_a_retry_succeeds_stops_cleanly(
    simulator: SimulatorServer,
    sim: httpx.AsyncClient,
    database: Database,
    tenant: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The worker stops while the retry that deleted the conversation removes its queued row: the
    retry ends first, nothing fails, and the conversation is not named as left."""
    async with engine_of(tenant, simulator, tmp_path) as engine:
        conversation = await engine.create_conversation()
        assert conversation is not None
        signalling = Signalling(engine)
        with caplog.at_level(logging.INFO, logger=LOGGER):
            async with running_provider_deletes(database) as deletes:
                deletes.put(tenant, signalling, conversation, "the turn's try failed")
                await signalling.deleted.wait()  # its first retry, after RETRY_FIRST
            assert deletes.pending == []

    assert not await exists(sim, conversation)
    assert await row_of(database, conversation) is None
    assert not [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]
