"""A turn's start: the provider is asked in the step that opens the turn, before anything else runs."""

from __future__ import annotations

import dataclasses

import anyio

from proxy.store.db import Database
from proxy.store.threads import LockedThread, NewTurn, ThreadStore, new_id
from proxy.tenants import TenantConfig
from proxy.turns.manager import TurnManager
from proxy.visitors import Visitor
from tests.support.scripted_engine import ScriptedEngine
from tests.support.turn_jobs import ask, turn_services

CONFIG = TenantConfig(name="start", domains=["start.test"])


class Watched(ThreadStore):
    """Notes, as each statement opening a turn is made, how many turns the engine was asked for."""

    def __init__(self, db: Database, engine: ScriptedEngine) -> None:
        super().__init__(db)
        self.engine = engine
        self.asked_before: list[int] = []

    async def create_locked(self, new: NewTurn) -> LockedThread:
        self.asked_before.append(len(self.engine.turns))
        return await super().create_locked(new)


async def test_a_first_message_asks_the_provider_before_its_statement_is_sent(database: Database) -> None:
    engine = ScriptedEngine()
    store = Watched(database, engine)
    async with anyio.create_task_group() as group:
        manager = TurnManager(group, turn_services(database, engine, CONFIG, threads=store))
        with manager.admit():
            first = dataclasses.replace(ask(CONFIG, new_id("thr"), "say:hello there"), new_thread=True)
            run = await manager.open(first)
        await run.channel_closed()
    assert store.asked_before == [1]
    assert [event.name for event in run.channel.events][-2:] == ["run.completed", "done"]
    assert await ThreadStore(database).active_run(run.thread_id) is None


async def test_a_message_to_a_thread_asks_the_provider_before_open_returns(database: Database) -> None:
    engine = ScriptedEngine()
    async with anyio.create_task_group() as group:
        manager = TurnManager(group, turn_services(database, engine, CONFIG))
        thread = await ThreadStore(database).create(tenant=CONFIG.name, visitor=Visitor(), engine="scripted")
        with manager.admit():
            run = await manager.open(ask(CONFIG, thread.id, "say:hi"))
            assert len(engine.turns) == 1
        await run.channel_closed()
    assert [event.name for event in run.channel.events][-2:] == ["run.completed", "done"]
