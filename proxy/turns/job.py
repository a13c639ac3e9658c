"""What a turn runs with: the process's shared services and the one turn ``TurnManager.open`` made.

Kept apart from the runner so the manager, the app and the tests can build them without the
machinery that runs a turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from proxy.engines.base import Engine
from proxy.store.event_log import EventLog
from proxy.store.threads import LockedThread, ThreadStore
from proxy.tenants import TenantConfig
from proxy.tools.registry import ToolServices, ToolSet
from proxy.turns.provider_deletes import ProviderDeletes
from proxy.usage.budget import BudgetGuard
from proxy.visitors import Visitor

__all__ = ("TurnJob", "TurnServices")


@dataclass(frozen=True, slots=True)
class TurnServices:
    """What every turn of this process uses, built once with the app and held by the ``TurnManager``."""

    threads: ThreadStore
    event_log: EventLog
    budgets: BudgetGuard
    engines: Mapping[str, Engine]  # by tenant name
    toolsets: Mapping[str, ToolSet]  # by tenant name: the tools each tenant enabled
    timeout: float  # seconds a turn may run (PROXY_TURN_TIMEOUT)
    lease: float  # seconds of a turn's lock on its thread, renewed while it runs (PROXY_TURN_LEASE)
    tool_services: ToolServices = field(default_factory=ToolServices)  # for tools (ToolContext.services)
    # retries the provider conversations of turns whose thread was never stored (None: tried once)
    provider_deletes: ProviderDeletes | None = None


@dataclass(frozen=True, slots=True)
class TurnJob:
    """One turn, as ``TurnManager.open`` made it: the locked thread and what the request asked."""

    tenant_config: TenantConfig
    thread: LockedThread  # with the visitor's message stored and the history read
    run_id: str
    user_text: str
    visitor: Visitor  # whom the turn's tools serve
    engine: Engine
    tools: ToolSet
    window: int  # how many earlier messages the lock read (the engine's window then)
    page_url: str | None = None
    operator: bool = False  # the tenant's own server or staff: errors keep the provider's words

    @property
    def tenant(self) -> str:
        return self.tenant_config.name
