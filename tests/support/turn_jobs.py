"""Turns through ``TurnManager.open`` without the HTTP layer, and a turn's end written as a run does."""

from __future__ import annotations

import anyio

from proxy.engines.base import Engine
from proxy.store.db import Database
from proxy.store.event_log import EventLog
from proxy.store.threads import EndStep, LockedThread, NewTurn, ThreadStore
from proxy.tenants import TenantConfig
from proxy.tools.registry import ToolSet
from proxy.turns.runner import TurnServices
from proxy.turns.turn_request import TurnRequest
from proxy.usage.budget import BudgetGuard
from proxy.usage.store import UsageEntry
from proxy.visitors import Visitor


def turn_services(
    db: Database, engine: Engine, config: TenantConfig, *, threads: ThreadStore | None = None
) -> TurnServices:
    """What a manager's turns use: ``engine`` for the one tenant, no tools, a 30 s timeout, no budget caps."""
    threads = threads or ThreadStore(db)
    return TurnServices(
        threads=threads,
        event_log=EventLog(db, threads=threads),
        budgets=BudgetGuard(db, [config]),
        engines={config.name: engine},
        toolsets={config.name: ToolSet({})},
        timeout=30,
        lease=60,
    )


def ask(config: TenantConfig, thread_id: str, text: str, visitor: Visitor | None = None) -> TurnRequest:
    """An anonymous visitor's message (or ``visitor``'s) for ``thread_id``."""
    visitor = visitor or Visitor()
    return TurnRequest(tenant=config, thread_id=thread_id, text=text, visitor=visitor, binding=visitor.binding)


async def end_turn(
    store: ThreadStore,
    thread_id: str,
    run_id: str,
    reply: str,
    *,
    usage: UsageEntry | None = None,
    provider_id: str | None = None,
) -> EndStep:
    """Write a turn's end as a run does, to its last step: ``saved`` or ``lost``."""
    steps = [step async for step in store.finish_turn(thread_id, run_id, reply, usage=usage, provider_id=provider_id)]
    return steps[-1]


class StoredLate(ThreadStore):
    """The statement creating a first message's thread commits at once; its answer reaches the
    turn once ``gate`` opens (a batch's round trip, a busy loop)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.committed = anyio.Event()
        self.gate = anyio.Event()

    async def create_locked(self, new: NewTurn) -> LockedThread:
        created = await super().create_locked(new)
        self.committed.set()
        await self.gate.wait()
        return created
