"""A turn job for driving ``ActiveRun`` / ``TurnManager`` directly, without the HTTP layer."""

from __future__ import annotations

from proxy.engines.base import Engine
from proxy.store.threads import ThreadRecord, ThreadStore
from proxy.tenants import TenantConfig
from proxy.tools.registry import ToolSet
from proxy.turns.runner import TurnJob
from proxy.usage.budget import BudgetGuard
from proxy.visitors import Visitor


def turn_job(
    store: ThreadStore, thread: ThreadRecord, run_id: str, text: str, engine: Engine, config: TenantConfig
) -> TurnJob:
    """A job for a locked ``thread``: an anonymous visitor, no tools, a 30 s timeout, no budget caps."""
    return TurnJob(
        tenant=config.name,
        thread=thread,
        run_id=run_id,
        user_text=text,
        visitor=Visitor(),
        engine=engine,
        tools=ToolSet({}),
        store=store,
        timeout=30,
        tenant_config=config,
        budgets=BudgetGuard(store.db, [config]),
    )
