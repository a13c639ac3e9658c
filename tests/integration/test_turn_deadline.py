"""A turn's own deadline (PROXY_TURN_TIMEOUT) and a stop: which error its stream ends with."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import anyio

from proxy.store.db import Database
from proxy.store.threads import ThreadStore
from proxy.tenants import TenantConfig
from proxy.turns.manager import TurnManager
from proxy.turns.runner import SHUTTING_DOWN, ActiveRun
from proxy.visitors import Visitor
from tests.support.scripted_engine import ScriptedEngine
from tests.support.turn_jobs import ask, turn_services


class Silent(ScriptedEngine):
    """A provider that accepts the turn and then says nothing, ever."""

    name = "chat"

    def history_window(self) -> int:
        return 0

    async def create_conversation(self) -> None:
        return None

    async def stream_turn(self, turn: Any) -> Any:
        await anyio.sleep_forever()
        yield  # an async generator


def ending(run: ActiveRun) -> list[tuple[str, dict[str, Any]]]:
    return [(e.name, e.data) for e in run.channel.events[-2:]]


async def run_one(database: Database, *, timeout: float, stop: bool) -> tuple[ActiveRun, ThreadStore, str]:
    tenant = f"tdl-{uuid.uuid4().hex[:8]}"
    config = TenantConfig(name=tenant, domains=[f"{tenant}.test"])
    store = ThreadStore(database)
    thread = await store.create(tenant=tenant, visitor=Visitor(), engine="chat")
    services = dataclasses.replace(turn_services(database, Silent(), config, threads=store), timeout=timeout)
    async with anyio.create_task_group() as group:
        run = await TurnManager(group, services).open(ask(config, thread.id, "hello"))
        if stop:
            run.cancel(SHUTTING_DOWN)
        await run.channel_closed()
        if not stop:
            run.cancel()  # a stop after the deadline passed does not change why the turn ended
    return run, store, thread.id


async def test_a_turn_past_its_deadline_ends_with_turn_timeout_and_releases_its_thread(database: Database) -> None:
    run, store, thread_id = await run_one(database, timeout=0.2, stop=False)
    (error, data), (done, _) = ending(run)
    assert (error, data["code"], done) == ("error", "turn_timeout", "done")
    assert run.outcome == "turn_timeout"
    assert await store.active_run(thread_id) is None


async def test_a_stopped_turn_ends_with_the_stops_reason_not_a_timeout(database: Database) -> None:
    run, store, thread_id = await run_one(database, timeout=30, stop=True)
    (error, data), (done, _) = ending(run)
    assert (error, data["code"], done) == ("error", "shutting_down", "done")
    assert run.outcome == "shutting_down"
    assert await store.active_run(thread_id) is None
