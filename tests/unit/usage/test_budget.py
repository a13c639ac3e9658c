"""Budget decisions: the caps, the fallback model, the blocked message, and the per-process cache."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from proxy.engines.base import Usage
from proxy.usage.budget import BudgetGuard, decide_for
from proxy.usage.config import DEFAULT_BLOCKED_MESSAGE, BudgetConfig
from proxy.usage.store import SHARDS
from tests.support.apps import make_tenant


class FakeStore:
    """Stands in for UsageStore's reads: counts queries, keeps totals per (tenant, day)."""

    def __init__(self) -> None:
        self.totals: dict[tuple[str, date], int] = {}
        self.queries = 0

    async def day_total(self, tenant: str, day: date) -> int:
        self.queries += 1
        return self.totals.get((tenant, day), 0)


class Ticks:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def guard(store: FakeStore, *tenants, ticks: Ticks | None = None, now: datetime | None = None) -> BudgetGuard:  # type: ignore[no-untyped-def]
    moment = now or datetime(2030, 5, 17, 12, 0, tzinfo=UTC)
    return BudgetGuard(store, [t.config for t in tenants], clock=ticks or Ticks(), now=lambda: moment)  # type: ignore[arg-type]


CAPPED = {"daily_soft_tokens": 1000, "daily_hard_tokens": 2000, "fallback_model": "gpt-4.1-nano"}


def test_decide_for_thresholds() -> None:
    budget = BudgetConfig(**CAPPED)
    assert decide_for(budget, 0).action == "normal"
    assert decide_for(budget, 999).model is None
    fallback = decide_for(budget, 1000)
    assert (fallback.action, fallback.model, fallback.message) == ("fallback", "gpt-4.1-nano", None)
    blocked = decide_for(budget, 2000)
    assert (blocked.action, blocked.model, blocked.message) == ("blocked", None, DEFAULT_BLOCKED_MESSAGE)
    assert blocked.blocked and not fallback.blocked


def test_hard_cap_alone_and_custom_message() -> None:
    budget = BudgetConfig(daily_hard_tokens=50, blocked_message="Back tomorrow!")
    assert decide_for(budget, 49).action == "normal"
    assert decide_for(budget, 50).message == "Back tomorrow!"


@pytest.mark.parametrize(
    ("fields", "wanted"),
    [
        ({"daily_soft_tokens": 10}, "fallback_model"),
        ({"daily_soft_tokens": 10, "daily_hard_tokens": 5, "fallback_model": "m"}, "must not exceed"),
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"daily_hard_tokens": -1}, "greater than or equal"),
    ],
)
def test_bad_budgets_are_refused(fields: dict, wanted: str) -> None:
    with pytest.raises(ValidationError, match=wanted):
        BudgetConfig(**fields)


async def test_uncapped_tenants_cost_no_query() -> None:
    store = FakeStore()
    tenant = make_tenant("free", ["free.test"])
    assert (await guard(store, tenant).decide(tenant.config)).action == "normal"
    assert store.queries == 0


async def test_decide_reads_once_per_cache_period_and_sees_own_records() -> None:
    store, ticks = FakeStore(), Ticks()
    tenant = make_tenant("capped", ["capped.test"], budget=CAPPED)
    g = guard(store, tenant, ticks=ticks)
    assert (await g.decide(tenant.config)).action == "normal"
    g.count("capped", "gpt-4.1-mini", Usage(600, 500))
    assert (await g.decide(tenant.config)).action == "fallback"  # own turn counted without a query
    assert store.queries == 1
    store.totals[("capped", date(2030, 5, 17))] = 1100 + 5000  # that turn's end written, and another worker's
    assert (await g.decide(tenant.config)).action == "fallback"  # still cached
    ticks.t = 2.5
    decision = await g.decide(tenant.config)
    assert decision.action == "blocked" and decision.used_tokens == 6100
    assert store.queries == 2


async def test_count_adds_to_todays_view_and_leaves_the_write_to_the_turn() -> None:
    store = FakeStore()
    tenant = make_tenant("counted", ["counted.test"], budget={"daily_hard_tokens": 100})
    g = guard(store, tenant)
    assert (await g.decide(tenant.config)).action == "normal"
    entry = g.count("counted", "m", Usage(60, 40))
    assert (entry.tenant, entry.day, entry.model, entry.input_tokens, entry.output_tokens, entry.turns) == (
        "counted",
        date(2030, 5, 17),
        "m",
        60,
        40,
        1,
    )
    assert 0 <= entry.shard < SHARDS
    assert (await g.decide(tenant.config)).action == "blocked"
    assert store.queries == 1


async def test_count_is_on_the_tenants_own_day() -> None:
    store = FakeStore()
    tenant = make_tenant("tokyo", ["tokyo.test"], budget={"daily_hard_tokens": 10, "timezone": "Asia/Tokyo"})
    late_utc = datetime(2030, 5, 17, 20, 0, tzinfo=UTC)  # already the 18th in Tokyo
    g = guard(store, tenant, now=late_utc)
    entry = g.count("tokyo", "m", Usage(1, 2))
    assert (entry.day, entry.input_tokens, entry.output_tokens) == (date(2030, 5, 18), 1, 2)
    assert g.day("unknown") == date(2030, 5, 17)


def test_tenants_file_budget_errors_name_the_field(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from proxy.settings import Settings
    from proxy.tenants import ConfigError, load_tenants

    path = tmp_path / "tenants.toml"
    path.write_text('[tenants.a]\ndomains = ["a.test"]\napi_key_env = "K"\n[tenants.a.budget]\ndaily_soft_tokens = 5\n')
    settings = Settings(_env_file=None, tenants_file=path)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match=r"tenant 'a': field 'budget'.*fallback_model"):
        load_tenants(settings, env={"K": "sk"})
