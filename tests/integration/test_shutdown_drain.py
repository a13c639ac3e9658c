"""Graceful shutdown: running turns may finish within the bound; later ones end with shutting_down."""

from __future__ import annotations

import dataclasses
import threading

import anyio

from proxy.store.db import Database
from proxy.store.threads import ThreadStore, new_id
from proxy.tenants import TenantConfig
from proxy.turns.manager import TurnManager
from proxy.turns.runner import ActiveRun
from proxy.visitors import Visitor
from tests.support.scripted_engine import ScriptedEngine
from tests.support.turn_jobs import StoredLate, ask, turn_services
from tests.support.waiting import eventually

CONFIG = TenantConfig(name="drain", domains=["drain.test"])


async def open_turn(manager: TurnManager, database: Database, text: str) -> ActiveRun:
    thread = await ThreadStore(database).create(tenant="drain", visitor=Visitor(), engine="scripted")
    return await manager.open(ask(CONFIG, thread.id, text))


def names(run: ActiveRun) -> list[str]:
    return [event.name for event in run.channel.events]


async def test_drain_lets_running_turns_finish(database: Database) -> None:
    engine = ScriptedEngine()
    async with anyio.create_task_group() as group:
        manager = TurnManager(group, turn_services(database, engine, CONFIG))
        run = await open_turn(manager, database, "gate:finishes")
        await engine_waiting(run)
        draining = anyio.Event()

        async def drain() -> None:
            draining.set()
            await manager.drain(timeout=30)

        group.start_soon(drain)
        await draining.wait()
        assert manager.accepting is False
        engine.gates["finishes"].set()
    assert names(run)[-2:] == ["run.completed", "done"]
    assert run.run_id not in engine.cancelled


async def test_drain_cancels_what_outlives_the_bound(database: Database) -> None:
    engine = ScriptedEngine()
    async with anyio.create_task_group() as group:
        manager = TurnManager(group, turn_services(database, engine, CONFIG))
        run = await open_turn(manager, database, "gate:never")
        await engine_waiting(run)
        await manager.drain(timeout=0.2)
    assert names(run)[-2:] == ["error", "done"]
    assert run.channel.events[-2].data["code"] == "shutting_down"
    assert run.channel.events[-2].data["retryable"] is True
    assert run.run_id in engine.cancelled
    engine.gates["never"].set()  # frees the worker thread the cancelled wait left behind
    # the thread's lock was released with the partial reply saved
    assert await ThreadStore(database).active_run(run.thread_id) is None


async def test_a_first_message_stored_after_the_drain_s_bound_ends_at_once(database: Database) -> None:
    """The statement creating its thread outlived the drain's bound: its turn, started meanwhile,
    ends with shutting_down once the thread is stored, as the turns the drain cut did."""
    engine = ScriptedEngine()
    store = StoredLate(database)
    runs: list[ActiveRun] = []
    opened = anyio.Event()
    async with anyio.create_task_group() as group:
        manager = TurnManager(group, turn_services(database, engine, CONFIG, threads=store))

        async def first_message() -> None:
            with manager.admit():
                ask_first = dataclasses.replace(ask(CONFIG, new_id("thr"), "gate:never"), new_thread=True)
                runs.append(await manager.open(ask_first))
            opened.set()

        group.start_soon(first_message)
        await store.committed.wait()
        await manager.drain(timeout=0)  # the bound passes while the statement's answer is on its way
        store.gate.set()
        await opened.wait()
        with anyio.fail_after(10):  # (without the cut, its reply would wait at the gate for good)
            await runs[0].channel_closed()
    [run] = runs
    assert names(run)[-2:] == ["error", "done"]
    assert run.channel.events[-2].data["code"] == "shutting_down"
    engine.gates["never"].set()
    assert await ThreadStore(database).active_run(run.thread_id) is None


async def engine_waiting(run: ActiveRun) -> None:
    """Wait until the gated engine has streamed its first delta."""
    async for batch in run.channel.follow():
        if any(event.name == "message.delta" for event in batch):  # type: ignore[union-attr]
            return


async def test_cancelling_the_group_ends_its_turns_with_done(database: Database) -> None:
    # turns run in tasks of their own: the group's cancellation still ends each as a drain does
    engine = ScriptedEngine()
    async with anyio.create_task_group() as group:
        manager = TurnManager(group, turn_services(database, engine, CONFIG))
        run = await open_turn(manager, database, "gate:never")
        await engine_waiting(run)
        group.cancel_scope.cancel()
    assert names(run)[-2:] == ["error", "done"]
    assert run.channel.events[-2].data["code"] == "shutting_down"
    assert manager.active == 0
    engine.gates["never"].set()
    assert await ThreadStore(database).active_run(run.thread_id) is None


async def test_cancelling_the_group_ends_a_first_message_stored_meanwhile(database: Database) -> None:
    """The group is cancelled while the statement creating a first message's thread is on its way:
    once stored, that turn ends as the others did, and the group's end does not wait for its reply."""
    engine = ScriptedEngine()
    store = StoredLate(database)
    runs: list[ActiveRun] = []
    # the requests' tasks are not the app's: a group of their own around the app's
    async with anyio.create_task_group() as requests, anyio.create_task_group() as group:
        manager = TurnManager(group, turn_services(database, engine, CONFIG, threads=store))
        running = await open_turn(manager, database, "gate:never")
        await engine_waiting(running)

        async def first_message() -> None:
            with manager.admit():
                ask_first = dataclasses.replace(ask(CONFIG, new_id("thr"), "gate:never"), new_thread=True)
                runs.append(await manager.open(ask_first))

        async def stored_after_the_cut() -> None:
            async def cut() -> bool:
                return running.run_id in engine.cancelled

            await eventually(cut)
            store.gate.set()

        requests.start_soon(first_message)
        await store.committed.wait()
        requests.start_soon(stored_after_the_cut)
        group.cancel_scope.cancel()
    assert names(running)[-2:] == ["error", "done"]
    [first] = runs
    assert names(first)[-2:] == ["error", "done"]
    assert first.channel.events[-2].data["code"] == "shutting_down"
    engine.gates["never"].set()
    assert await ThreadStore(database).active_run(first.thread_id) is None


async def test_the_group_waits_for_its_turns(database: Database) -> None:
    engine = ScriptedEngine()
    async with anyio.create_task_group() as group:
        manager = TurnManager(group, turn_services(database, engine, CONFIG))
        run = await open_turn(manager, database, "gate:later")
        await engine_waiting(run)
        group.start_soon(_release, engine.gates["later"])
    # the block ended only when the turn had: its reply saved, its stream closed
    assert names(run)[-2:] == ["run.completed", "done"]
    assert manager.active == 0
    assert await ThreadStore(database).active_run(run.thread_id) is None


async def _release(gate: threading.Event) -> None:
    gate.set()
