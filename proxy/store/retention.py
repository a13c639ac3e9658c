"""How long a tenant's conversations, leads and handoffs are kept, and the purge that enforces it.

Each tenant may set ``[tenants.NAME.retention]`` (days; 0 keeps forever); what it leaves unset
comes from ``Settings.retention`` (``PROXY_RETENTION_*``). The purge runs in every worker on a timer and works in small
batches, each one short statement that locks only the rows it deletes, taken with
``FOR UPDATE SKIP LOCKED``: several workers purging at once split the rows between them and never
wait for each other or for a chat (which locks its thread row, which the purge then skips).

What goes, per tenant, older than the cutoff (now minus the days):

* messages written before it; then threads created before it that hold no message any more
  (their stream events go with them, their provider-side copies are queued for deletion, see
  :mod:`proxy.store.provider_copies`): a conversation still in use keeps its recent part;
* leads and handoffs created before it, with their notifications in the outbox.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio
from pydantic import BaseModel, ConfigDict, Field

from proxy.store import provider_copies
from proxy.store.db import Database
from proxy.store.threads import free_of_turns

if TYPE_CHECKING:
    from proxy.tenants import Tenant

logger = logging.getLogger(__name__)

# jitter, as factors of the configured time: workers started together do not purge together
FIRST_DELAY_SPREAD = (1.0, 1.5)
INTERVAL_SPREAD = (0.9, 1.1)


class RetentionConfig(BaseModel):
    """A tenant's ``[tenants.NAME.retention]``: days to keep; unset: ``PROXY_RETENTION_*``; 0: forever."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    conversations_days: int | None = Field(None, ge=0, le=36500)
    leads_days: int | None = Field(None, ge=0, le=36500)
    handoffs_days: int | None = Field(None, ge=0, le=36500)


class RetentionSettings(BaseModel):
    """``Settings.retention``: defaults for tenants that set none, and how the purge paces itself."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    conversations_days: int = Field(
        365,
        ge=0,
        validation_alias="PROXY_RETENTION_CONVERSATIONS_DAYS",
        description="Days a tenant's data is kept when its tenants file sets nothing (0: keep forever)."
        " Conversations: messages older than this go, then threads started before it that hold no message"
        " any more (and their provider-side copies).",
    )
    leads_days: int = Field(
        730,
        ge=0,
        validation_alias="PROXY_RETENTION_LEADS_DAYS",
        description="Days leads are kept, with their notifications in the outbox (0: forever).",
    )
    handoffs_days: int = Field(
        365,
        ge=0,
        validation_alias="PROXY_RETENTION_HANDOFFS_DAYS",
        description="Days handoffs are kept, with their notifications in the outbox (0: forever).",
    )
    interval: float = Field(
        3600.0,
        gt=0,
        validation_alias="PROXY_RETENTION_INTERVAL",
        description="Every worker purges on this timer (seconds, jittered); workers purging at once split the"
        " rows between them.",
    )
    first_delay: float = Field(
        60.0,
        ge=0,
        validation_alias="PROXY_RETENTION_FIRST_DELAY",
        description="Seconds after start-up before the first purge, so a deploy is not slowed by it.",
    )
    batch: int = Field(
        500, ge=1, le=50_000, validation_alias="PROXY_RETENTION_BATCH", description="Rows per delete statement."
    )
    pause: float = Field(
        0.02,
        ge=0,
        validation_alias="PROXY_RETENTION_PAUSE",
        description="Seconds between two statements, so chats keep their share of the database.",
    )


@dataclass(frozen=True, slots=True)
class Policy:
    """One tenant's effective retention, in days (0: keep forever)."""

    tenant: str
    conversations_days: int
    leads_days: int
    handoffs_days: int

    @classmethod
    def of(cls, tenant: Tenant, defaults: RetentionSettings) -> Policy:
        own = tenant.config.retention

        def pick(mine: int | None, default: int) -> int:
            return default if mine is None else mine

        return cls(
            tenant.name,
            pick(own.conversations_days, defaults.conversations_days),
            pick(own.leads_days, defaults.leads_days),
            pick(own.handoffs_days, defaults.handoffs_days),
        )


@dataclass(slots=True)
class Purged:
    messages: int = 0
    threads: int = 0
    leads: int = 0
    handoffs: int = 0
    provider_copies: int = 0
    by_tenant: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, tenant: str, what: str, n: int) -> None:
        setattr(self, what, getattr(self, what) + n)
        counts = self.by_tenant.setdefault(tenant, {})
        counts[what] = counts.get(what, 0) + n


_MESSAGES = """
with doomed as (
    select m.id from threads t join messages m on m.thread_id = t.id
    where t.tenant = %(tenant)s and t.created_at < %(cutoff)s and m.created_at < %(cutoff)s
    limit %(batch)s for update of m skip locked
)
delete from messages where id in (select id from doomed)
"""

# a thread with a live turn lock is skipped; so is one a turn is locking right now (its row is
# locked: skipped too), and a message cannot be added without that lock
_THREADS = f"""
with doomed as (
    select t.id from threads t
    where t.tenant = %(tenant)s and t.created_at < %(cutoff)s
      and {free_of_turns("t")}
      and not exists (select from messages m where m.thread_id = t.id)
    limit %(batch)s for update skip locked
), gone as (
    delete from threads where id in (select id from doomed) returning tenant, provider_id
), queued as (
    insert into provider_deletions (tenant, provider_id)
    select tenant, provider_id from gone where provider_id is not null
)
select count(*) as n from gone
"""

_RECORDS = """
with doomed as (
    select id from {table} where tenant = %(tenant)s and created_at < %(cutoff)s
    limit %(batch)s for update skip locked
), mails as (
    delete from outbox where {column} in (select id from doomed)
)
delete from {table} where id in (select id from doomed)
"""


class Purger:
    """Deletes what is past each tenant's retention, batch by batch."""

    def __init__(self, db: Database, settings: RetentionSettings, *, now: datetime | None = None) -> None:
        self.db = db
        self.settings = settings
        self.now = now  # fixed "now" for tests; None: the clock

    def cutoff(self, days: int) -> datetime:
        return (self.now or datetime.now(UTC)) - timedelta(days=days)

    async def _batches(self, query: str, params: dict[str, object], *, counted: bool = False) -> int:
        total = 0
        while True:
            if counted:
                row = await self.db.fetch_one(query, params)
                n = int(row["n"]) if row else 0
            else:
                n = await self.db.execute(query, params)
            total += n
            if n < self.settings.batch:
                return total
            await anyio.sleep(self.settings.pause)

    async def purge_tenant(self, policy: Policy, purged: Purged) -> None:
        batch = self.settings.batch
        if policy.conversations_days > 0:
            params: dict[str, object] = {
                "tenant": policy.tenant,
                "cutoff": self.cutoff(policy.conversations_days),
                "batch": batch,
            }
            purged.add(policy.tenant, "messages", await self._batches(_MESSAGES, params))
            purged.add(policy.tenant, "threads", await self._batches(_THREADS, params, counted=True))
        for table, column, days in (
            ("leads", "lead_id", policy.leads_days),
            ("handoffs", "handoff_id", policy.handoffs_days),
        ):
            if days > 0:
                query = _RECORDS.format(table=table, column=column)
                params = {"tenant": policy.tenant, "cutoff": self.cutoff(days), "batch": batch}
                purged.add(policy.tenant, table, await self._batches(query, params))

    async def purge(
        self, policies: Iterable[Policy], engines: Mapping[str, provider_copies.ConversationDeleter] | None = None
    ) -> Purged:
        """One pass over every tenant; then the provider-side copies queued (by this pass or before)."""
        purged = Purged()
        for policy in policies:
            await self.purge_tenant(policy, purged)
        if engines is not None:
            purged.provider_copies = await provider_copies.drain(self.db, engines)
        return purged


def policies(tenants: Iterable[Tenant], settings: RetentionSettings) -> list[Policy]:
    return [Policy.of(tenant, settings) for tenant in tenants]


async def _keep_purging(
    db: Database,
    tenants: Iterable[Tenant],
    engines: Mapping[str, provider_copies.ConversationDeleter],
    settings: RetentionSettings,
) -> None:
    purger = Purger(db, settings)
    wanted = policies(tenants, settings)
    await anyio.sleep(settings.first_delay * random.uniform(*FIRST_DELAY_SPREAD))
    while True:
        try:
            purged = await purger.purge(wanted, engines)
            if any(purged.by_tenant.values()) or purged.provider_copies:
                logger.info(
                    "retention purge",
                    extra={"purged": purged.by_tenant, "provider_copies": purged.provider_copies},
                )
        except Exception:  # the database was away, say: the next pass tries again
            logger.warning("retention purge failed; trying again later", exc_info=True)
        await anyio.sleep(settings.interval * random.uniform(*INTERVAL_SPREAD))


@asynccontextmanager
async def running_retention(
    db: Database,
    tenants: Iterable[Tenant],
    engines: Mapping[str, provider_copies.ConversationDeleter],
    settings: RetentionSettings,
) -> AsyncIterator[None]:
    """Purge on a timer for as long as the context is open (one per worker), paced by ``Settings.retention``."""
    async with anyio.create_task_group() as group:
        group.start_soon(_keep_purging, db, list(tenants), engines, settings)
        try:
            yield
        finally:
            group.cancel_scope.cancel()
