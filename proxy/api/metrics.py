"""``GET /metrics`` in Prometheus' text format, for a scraper holding ``PROXY_METRICS_TOKEN``.

The metrics name tenants and count their turns, tokens, tool calls and mails: they are not for
the public. Without a token configured the route answers 404; with one, only
``Authorization: Bearer <token>`` gets the metrics (failures count towards the caller's
failed-authentication throttle).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import anyio
from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from proxy.api.deps import ServicesDep, bearer_token, check_auth_throttle, count_auth_failure
from proxy.api.errors import ApiError
from proxy.observability.metrics import OUTBOX, metrics_registry
from proxy.store.db import Database

OUTBOX_STATES = ("pending", "sending", "dead")  # delivered rows are not counted: they are pruned
_COUNT_STATES = "select " + ", ".join(
    f"(select count(*) from outbox where state = '{state}') as {state}" for state in OUTBOX_STATES
)

OUTBOX_GAUGE_TTL = 15.0  # seconds the outbox depth is reused between scrapes


class OutboxGauge:
    """The outbox depth, read at most once per ``ttl`` seconds however many scrapes come in."""

    def __init__(self, db: Database, ttl: float = OUTBOX_GAUGE_TTL) -> None:
        self.db = db
        self.ttl = ttl
        self._read_at = -float("inf")
        self._lock = anyio.Lock()

    async def refresh(self) -> None:
        if time.monotonic() - self._read_at < self.ttl:
            return
        async with self._lock:  # concurrent scrapes wait for one query instead of each running it
            if time.monotonic() - self._read_at < self.ttl:
                return
            # one partial index per state (the literal lets the planner use it); delivered rows are not read
            row = await self.db.fetch_one(_COUNT_STATES)
            for state in OUTBOX_STATES:
                OUTBOX.labels(state).set(row[state] if row else 0)
            self._read_at = time.monotonic()


def _gauge(request: Request[Any, Any, Any], db: Database) -> OutboxGauge:
    gauge: OutboxGauge | None = getattr(request.app.state, "outbox_gauge", None)
    if gauge is None or gauge.db is not db:
        gauge = request.app.state.outbox_gauge = OutboxGauge(db)
    return gauge


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any], services: ServicesDep) -> Response[bytes]:
    """Prometheus text format; the outbox depth is read from the database, at most every 15 s."""
    expected = services.settings.metrics_token
    if expected is None:
        raise ApiError(404, "not_found", "Metrics are off on this server (PROXY_METRICS_TOKEN is not set).")
    await check_auth_throttle(request, services)
    given = bearer_token(request)
    if given is None or not secrets.compare_digest(given.encode(), expected.encode()):
        await count_auth_failure(request, services)
        raise ApiError(401, "invalid_metrics_token", "Send the metrics token: Authorization: Bearer <token>.")
    await _gauge(request, services.db).refresh()
    return Response(generate_latest(metrics_registry()), media_type=CONTENT_TYPE_LATEST)
