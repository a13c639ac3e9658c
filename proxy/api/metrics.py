"""``GET /metrics`` in Prometheus' text format."""

from __future__ import annotations

import os
from typing import Any

from litestar import Response, get
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from proxy.api.deps import ServicesDep
from proxy.observability.metrics import OUTBOX


@get("/metrics", include_in_schema=False)
async def metrics(services: ServicesDep) -> Response[bytes]:
    """Prometheus text format; the outbox depth is read from the database at scrape time."""
    rows = await services.db.fetch_all("select state, count(*) as n from outbox group by state")
    counts = {row["state"]: row["n"] for row in rows}
    for state in ("pending", "sending", "sent", "dead"):
        OUTBOX.labels(state).set(counts.get(state, 0))
    registry: Any = REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
