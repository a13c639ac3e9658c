"""The process-wide objects a request may use, built once in the app's lifespan.

What a chat turn needs (the thread store, the budgets, the tools' services, the event log, the
turn's time limits) is held by the :class:`~proxy.turns.manager.TurnManager` (``turns.services``).
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.engines.base import Engine
from proxy.limits.limiter import RateLimiter
from proxy.settings import Settings
from proxy.store.db import Database
from proxy.store.threads import ThreadStore
from proxy.tenants import Tenant, TenantDirectory
from proxy.tools.registry import ToolRegistry
from proxy.turns.manager import TurnManager


@dataclass(slots=True)
class Services:
    settings: Settings
    tenants: TenantDirectory
    db: Database
    tools: ToolRegistry
    engines: dict[str, Engine]  # by tenant name
    turns: TurnManager
    limiter: RateLimiter

    @property
    def threads(self) -> ThreadStore:
        return self.turns.services.threads

    def engine_for(self, tenant: Tenant) -> Engine:
        return self.engines[tenant.name]
