"""``sync stripe``: pull customers, products, prices and invoices (with lines) into our tables.

The first run (and ``--full``) lists everything and reconciles: what Stripe no longer lists is
marked deleted. Later runs are incremental: events since the last run (changes to existing
objects, oldest first), then objects created since the newest one we have. Every write is an
idempotent upsert, so an interrupted run is simply run again.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from proxy.errors import ProxyError
from proxy.shop import stripe_objects as so
from proxy.shop.documents import DocumentStats, refresh_documents
from proxy.shop.store import UpsertCounts, analyze, replace_lines, upsert_records
from proxy.shop.stripe_client import StripeAuthError, StripeClient

if TYPE_CHECKING:
    from proxy.shop.config import ShopConfig
    from proxy.shop.embedders import Embedder
    from proxy.store.db import Database

OBJECTS: dict[str, tuple[str, str, Callable[[str, dict[str, Any]], tuple[Any, ...]]]] = {
    "products": ("/v1/products", "shop_products", so.product_row),
    "prices": ("/v1/prices", "shop_prices", so.price_row),
    "customers": ("/v1/customers", "shop_customers", so.customer_row),
    "invoices": ("/v1/invoices", "shop_invoices", so.invoice_row),
}
EVENT_TYPES = [
    f"{kind}.{action}" for kind in ("customer", "product", "price") for action in ("created", "updated", "deleted")
] + [
    f"invoice.{a}"
    for a in (
        "created",
        "updated",
        "deleted",
        "finalized",
        "paid",
        "voided",
        "marked_uncollectible",
        "payment_succeeded",
    )
]
EVENT_KINDS = {"customer": "customers", "product": "products", "price": "prices", "invoice": "invoices"}
EVENTS_KEPT_SECONDS = 29 * 86400  # Stripe keeps events for 30 days; older gaps need a full sync
Progress = Callable[[str, int], None]


class SyncError(ProxyError):
    """The sync cannot run (already running, no key); the message says what to do."""

    code = "sync_unavailable"


@dataclass(slots=True)
class SyncSummary:
    tenant: str
    mode: str
    objects: dict[str, UpsertCounts] = field(default_factory=dict)
    fetched: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    events: int = 0
    documents: DocumentStats | None = None
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"Stripe sync of tenant {self.tenant!r} ({self.mode}) in {self.seconds:.1f} s:"
            f" {self.requests} requests, {self.retries} retried"
        ]
        for name, counts in self.objects.items():
            removed = f", removed {self.removed[name]}" if self.removed.get(name) else ""
            out.append(
                f"  {name:<10} fetched {self.fetched.get(name, 0):>6}  new {counts.inserted:>6}  updated"
                f" {counts.updated:>6}"
                f"  unchanged {counts.unchanged:>6}{removed}"
            )
        out.append(f"  events applied: {self.events}")
        if self.documents:
            out.append(
                f"  documents: {self.documents.embedded} embedded with {self.documents.embedder},"
                f" {self.documents.deleted} removed"
            )
        out += [f"  warning: {w}" for w in self.warnings]
        return out


@asynccontextmanager
async def _sync_lock(db: Database, tenant: str) -> AsyncIterator[None]:
    async with db.connection() as conn:
        cur = await conn.execute("select pg_try_advisory_lock(hashtext(%s)) as ok", (f"shop-sync:{tenant}",))
        row = await cur.fetchone()
        if not (row and row["ok"]):
            raise SyncError(f"a Stripe sync of tenant {tenant!r} is already running")
        try:
            yield
        finally:
            await conn.execute("select pg_advisory_unlock(hashtext(%s))", (f"shop-sync:{tenant}",))


class StripeSync:
    def __init__(
        self, db: Database, tenant: str, client: StripeClient, summary: SyncSummary, progress: Progress | None
    ) -> None:
        self.db, self.tenant, self.client, self.summary, self.progress = db, tenant, client, summary, progress

    async def _state(self) -> dict[str, dict[str, Any]]:
        rows = await self.db.fetch_all(
            "select object, cursor, info, extract(epoch from synced_at) as at from shop_sync_state"
            " where tenant = %s and source = 'stripe'",
            (self.tenant,),
        )
        return {r["object"]: r for r in rows}

    async def _save(self, name: str, cursor: int | None, info: dict[str, Any] | None = None) -> None:
        await self.db.execute(
            "insert into shop_sync_state (tenant, source, object, cursor, info) values (%s, 'stripe', %s, %s, %s)"
            " on conflict (tenant, source, object) do update set cursor = excluded.cursor, info ="
            " excluded.info, synced_at = now()",
            (self.tenant, name, cursor, Jsonb(info or {})),
        )

    async def _lines(self, invoice: dict[str, Any]) -> list[dict[str, Any]]:
        lines = invoice.get("lines") or {}
        data = list(lines.get("data") or [])
        if lines.get("has_more"):
            data = []
            async for page in self.client.pages(f"/v1/invoices/{invoice['id']}/lines"):
                data += page
        return data

    async def write(self, name: str, objects: list[dict[str, Any]]) -> UpsertCounts:
        _, table, to_row = OBJECTS[name]
        rows = [to_row(self.tenant, obj) for obj in objects]
        lines = []
        if name == "invoices":
            for obj in objects:
                lines += so.line_rows(self.tenant, obj, await self._lines(obj))
        async with self.db.transaction() as conn:
            counts = await upsert_records(conn, table, rows)
            if name == "invoices":
                await replace_lines(conn, self.tenant, [o["id"] for o in objects], lines)
        self.summary.objects.setdefault(name, UpsertCounts()).add(counts)
        return counts

    async def list_objects(self, name: str, since: int | None) -> tuple[int | None, set[str]]:
        path = OBJECTS[name][0]
        newest, seen = since, set[str]()
        async for page in self.client.pages(path, {"created[gte]": since} if since else None):
            await self.write(name, page)
            seen.update(obj["id"] for obj in page)
            newest = max([newest or 0] + [obj.get("created") or 0 for obj in page])
            self.summary.fetched[name] = self.summary.fetched.get(name, 0) + len(page)
            if self.progress:
                self.progress(name, self.summary.fetched[name])
        return newest, seen

    async def reconcile(self, name: str, seen: set[str]) -> None:
        """After a full listing: what Stripe no longer lists is gone there too."""
        statements = {
            "customers": "update shop_customers set deleted = true, synced_at = now() where tenant = %s and not"
            " deleted and not (id = any(%s))",
            "products": "update shop_products set deleted = true, synced_at = now() where tenant = %s and not"
            " deleted and not (id = any(%s))",
            "prices": "update shop_prices set active = false, synced_at = now() where tenant = %s and active"
            " and not (id = any(%s))",
            "invoices": "delete from shop_invoices where tenant = %s and not (id = any(%s))",
        }
        removed = await self.db.execute(statements[name], (self.tenant, list(seen)))
        if name == "invoices":
            await self.db.execute(
                "delete from shop_invoice_lines l where tenant = %s and not exists"
                " (select 1 from shop_invoices i where i.tenant = l.tenant and i.id = l.invoice_id)",
                (self.tenant,),
            )
        if removed:
            self.summary.removed[name] = removed

    async def latest_event(self) -> tuple[int | None, list[str]]:
        page = await self.client.get("/v1/events", [("limit", 1)])
        data = page.get("data") or []
        return (data[0]["created"], [data[0]["id"]]) if data else (int(time.time()), [])

    async def apply_events(self, since: int, seen_at_since: list[str]) -> tuple[int, list[str]]:
        events: list[dict[str, Any]] = []
        async for page in self.client.pages("/v1/events", {"types[]": EVENT_TYPES, "created[gte]": since}):
            events += [e for e in page if e["id"] not in seen_at_since]
        events.sort(key=lambda e: (e["created"], e["id"]))  # oldest first: the last snapshot wins
        latest: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in OBJECTS}
        gone: dict[str, set[str]] = {name: set() for name in OBJECTS}
        for event in events:
            kind, _, action = event["type"].partition(".")
            name, obj = EVENT_KINDS.get(kind), (event.get("data") or {}).get("object") or {}
            if name is None or "id" not in obj:
                continue
            if action == "deleted":
                obj = {**obj, "deleted": True, "active": False}
                if name == "invoices":
                    gone[name].add(obj["id"])
                    latest[name].pop(obj["id"], None)
                    continue
            gone[name].discard(obj["id"])
            latest[name][obj["id"]] = obj
        for name, objects in latest.items():
            if objects:
                await self.write(name, list(objects.values()))
        if gone["invoices"]:
            ids = sorted(gone["invoices"])
            await self.db.execute("delete from shop_invoices where tenant = %s and id = any(%s)", (self.tenant, ids))
            await self.db.execute(
                "delete from shop_invoice_lines where tenant = %s and invoice_id = any(%s)", (self.tenant, ids)
            )
        self.summary.events = len(events)
        if not events:
            return since, seen_at_since
        newest = events[-1]["created"]
        return newest, [e["id"] for e in events if e["created"] == newest]


async def sync_stripe(
    db: Database,
    tenant: str,
    shop: ShopConfig,
    *,
    api_key: str,
    embedder: Embedder,
    full: bool = False,
    client: StripeClient | None = None,
    progress: Progress | None = None,
) -> SyncSummary:
    """Run one sync of ``tenant`` and return what it did."""
    started = time.perf_counter()
    own_client = client is None
    client = client or StripeClient(api_key, base_url=shop.stripe_api_base, api_version=shop.stripe_api_version)
    summary = SyncSummary(tenant, "full")
    try:
        async with _sync_lock(db, tenant):
            sync = StripeSync(db, tenant, client, summary, progress)
            state = await sync._state()
            events = state.get("events")
            fresh = events is not None and time.time() - float(events["at"]) < EVENTS_KEPT_SECONDS
            incremental = not full and fresh and all(name in state for name in OBJECTS)
            summary.mode = "incremental" if incremental else "full"
            cursor: int | None = None
            seen_ids: list[str] = []
            try:
                if incremental and events is not None:
                    start = int(events["cursor"] if events["cursor"] is not None else events["at"])
                    cursor, seen_ids = await sync.apply_events(start, list(events["info"].get("ids", [])))
                else:
                    cursor, seen_ids = await sync.latest_event()
            except StripeAuthError as exc:
                if exc.stripe_status != 403:
                    raise
                summary.warnings.append(
                    "the key cannot read events, so changes to existing objects are only picked up by `--full` runs"
                )
            for name in OBJECTS:
                since = int(state[name]["cursor"]) if incremental and state[name]["cursor"] else None
                newest, seen = await sync.list_objects(name, since)
                if not incremental:
                    await sync.reconcile(name, seen)
                await sync._save(name, newest)
            await sync._save("events", cursor, {"ids": seen_ids})
    finally:
        summary.requests, summary.retries = client.requests, client.retries
        if own_client:
            await client.aclose()
    if sum(c.changed for c in summary.objects.values()) > 500:
        await analyze(db)
    summary.documents = await refresh_documents(db, tenant, embedder, progress=progress)
    summary.seconds = time.perf_counter() - started
    return summary
