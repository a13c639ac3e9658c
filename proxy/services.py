"""The process-wide objects a request or a turn may use, built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from proxy.engines.base import Engine
from proxy.limits.limiter import RateLimiter
from proxy.settings import Settings
from proxy.store.db import Database
from proxy.store.event_log import EventLog
from proxy.store.threads import ThreadStore
from proxy.tenants import Tenant, TenantDirectory
from proxy.tools.registry import ToolRegistry, ToolServices, ToolSet
from proxy.turns.manager import TurnManager
from proxy.usage.budget import BudgetGuard


@dataclass(slots=True)
class Services:
    settings: Settings
    tenants: TenantDirectory
    db: Database
    threads: ThreadStore
    tools: ToolRegistry
    engines: dict[str, Engine]  # by tenant name
    toolsets: dict[str, ToolSet]  # by tenant name: the tools each tenant enabled
    turns: TurnManager
    event_log: EventLog
    limiter: RateLimiter
    budgets: BudgetGuard
    tool_services: ToolServices = field(default_factory=ToolServices)  # for tools and turns

    def engine_for(self, tenant: Tenant) -> Engine:
        return self.engines[tenant.name]

    def tools_for(self, tenant: Tenant) -> ToolSet:
        return self.toolsets[tenant.name]
