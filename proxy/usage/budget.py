"""``BudgetGuard``: which model may answer this turn, given what the tenant has used today.

``decide`` runs before every turn, so it must not cost a query each time: today's total per
tenant is kept in this process for ``cache_seconds`` (and this process's own turns are added to it
as they finish), then read again with one primary-key range query, which also picks up what the
other workers used. Turns still running are not yet counted, so a burst of concurrent turns can
pass a cap by those turns; caps are a cost control, not an exact quota.

A turn's usage is counted here when its reply is complete (:meth:`BudgetGuard.count`) and written
with the end of the turn, in the same statement as the reply (``ThreadStore.finish_turn``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from proxy.engines.base import Usage
from proxy.store.db import Database
from proxy.tenants import TenantConfig
from proxy.usage.config import BudgetConfig
from proxy.usage.store import UsageEntry, UsageStore

BudgetAction = Literal["normal", "fallback", "blocked"]


@dataclass(frozen=True, slots=True)
class BudgetDecision:
    """``model`` overrides the tenant's model for this turn (None: keep it); ``message`` is for the visitor."""

    action: BudgetAction
    model: str | None = None
    message: str | None = None
    used_tokens: int = 0

    @property
    def blocked(self) -> bool:
        """No provider call: show ``message`` and offer lead capture instead."""
        return self.action == "blocked"


NORMAL = BudgetDecision("normal")


def decide_for(budget: BudgetConfig, used_tokens: int) -> BudgetDecision:
    """The pure rule: hard cap first, then soft cap; a cap of 0 is no cap."""
    if budget.daily_hard_tokens and used_tokens >= budget.daily_hard_tokens:
        return BudgetDecision("blocked", None, budget.blocked_message, used_tokens)
    if budget.daily_soft_tokens and used_tokens >= budget.daily_soft_tokens:
        return BudgetDecision("fallback", budget.fallback_model, None, used_tokens)
    return BudgetDecision("normal", None, None, used_tokens)


@dataclass(slots=True)
class _Today:
    day: date
    total: int
    read_at: float


class BudgetGuard:
    def __init__(
        self,
        db: Database | UsageStore,  # or anything with UsageStore's day_total (tests)
        tenants: Iterable[TenantConfig] = (),
        *,
        cache_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = UsageStore(db) if isinstance(db, Database) else db
        self._zones: dict[str, ZoneInfo] = {}
        for config in tenants:
            self._remember(config)
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._now = now
        self._today: dict[str, _Today] = {}

    def _remember(self, config: TenantConfig) -> ZoneInfo:
        zone = self._zones.get(config.name)
        if zone is None or zone.key != config.budget.timezone:
            zone = self._zones[config.name] = config.budget.zone
        return zone

    def day(self, tenant: str) -> date:
        """Today in the tenant's budget time zone (UTC for tenants it has not seen)."""
        return self._now().astimezone(self._zones.get(tenant, UTC)).date()

    async def used_today(self, config: TenantConfig) -> int:
        self._remember(config)
        today = self.day(config.name)
        cached = self._today.get(config.name)
        if cached is not None and cached.day == today and self._clock() - cached.read_at < self.cache_seconds:
            return cached.total
        total = await self.store.day_total(config.name, today)
        self._today[config.name] = _Today(today, total, self._clock())
        return total

    async def decide(self, config: TenantConfig) -> BudgetDecision:
        """Normal, fallback model, or blocked, for the tenant's next turn."""
        if not config.budget.capped:
            return NORMAL
        return decide_for(config.budget, await self.used_today(config))

    def count(self, tenant: str, model: str, usage: Usage) -> UsageEntry:
        """Count a finished turn in this process's view of today; the entry is for the caller to store."""
        today = self.day(tenant)
        cached = self._today.get(tenant)
        if cached is not None and cached.day == today:
            cached.total += usage.input_tokens + usage.output_tokens
        return UsageEntry(tenant, today, model, usage.input_tokens, usage.output_tokens)
