"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.exceptions import HTTPException

from proxy.api.deps import ServicesDep


@get("/healthz", summary="The process is alive", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", summary="Database and configuration are ready", include_in_schema=False)
async def readyz(services: ServicesDep) -> dict[str, Any]:
    if not services.turns.accepting:  # draining for shutdown: send new work elsewhere
        raise HTTPException(status_code=503, detail="shutting down")
    try:
        await services.db.fetch_one("select 1")
    except Exception as exc:
        raise HTTPException(status_code=503, detail="database unavailable") from exc
    return {"status": "ready", "tenants": len(services.tenants), "active_turns": services.turns.active}
