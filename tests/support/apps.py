"""Building the real app for tests: real Postgres, tenants given in code, a chosen engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from proxy.settings import Settings
from proxy.tenants import Tenant, TenantConfig, TenantDirectory

METRICS_TOKEN = "test-metrics-token"
METRICS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}  # what a scraper of /metrics sends


def make_settings(pg_url: str, data_dir: Path, **overrides: Any) -> Settings:
    # no shedding on loop lag unless a test asks for it: a busy test machine is not an overloaded worker
    overrides.setdefault("metrics_token", METRICS_TOKEN)
    overrides.setdefault("max_loop_lag", 0)
    overrides.setdefault("max_cpu_busy", 0)
    return Settings(_env_file=None, database_url=pg_url, data_dir=data_dir, **overrides)  # type: ignore[call-arg]


NO_LIMITS = {
    "messages_per_minute_per_visitor": 0,
    "messages_per_minute_per_ip": 0,
    "messages_per_minute_per_tenant": 0,
    "threads_per_hour_per_ip": 0,
}


def make_tenant(
    name: str,
    domains: list[str],
    *,
    engine: str = "responses",
    client_keys: tuple[str, ...] = (),
    base_url: str | None = None,
    api_key: str = "sk-test",
    identity_secret: str | None = None,
    **config: Any,
) -> Tenant:
    config.setdefault("limits", NO_LIMITS)  # tests from one address would trip the defaults
    return Tenant(
        config=TenantConfig(name=name, domains=domains, engine=engine, **config),  # type: ignore[arg-type]
        api_key=api_key,
        client_keys=client_keys,
        base_url=base_url,
        identity_secret=identity_secret,
    )


def directory(*tenants: Tenant) -> TenantDirectory:
    return TenantDirectory(tenants)


def sse_events(body: str) -> list[tuple[str, dict[str, Any], str | None]]:
    """Parse a v1 SSE body into (event, data, id) triples; comments are dropped."""
    import json

    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        name, data, event_id = None, [], None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line.startswith("id: "):
                event_id = line[4:]
        if name:
            events.append((name, json.loads("\n".join(data)), event_id))
    return events


EngineFactory = Callable[..., Any]
