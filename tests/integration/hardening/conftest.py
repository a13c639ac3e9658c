"""The real service for the hardening tests: the app under uvicorn on 127.0.0.1, the test
Postgres, and the OpenAI-protocol simulator as the provider (a hostile model when told to be).

Two tenants: ``shop`` (client key, identity tokens, lead tools) and ``other``. ``serve()`` starts
a service with settings of the test's own (limits, a metrics token); ``service`` is a shared one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.app import create_app
from proxy.limits.settings import LimitSettings
from proxy.simulator import ServerThread, SimulatorServer
from tests.support.apps import directory, make_settings, make_tenant
from tests.support.ports import free_port

SHOP_ORIGIN = {"Origin": "https://shop.test"}
SHOP_KEY = "ck_shop_0123456789abcdef0123456789"
OTHER_KEY = "ck_other_0123456789abcdef012345678"
IDENTITY_SECRET = "identity-secret-of-the-shop-0123456789"
METRICS_TOKEN = "metrics-token-0123456789abcdef"


def closed_port() -> int:
    """A loopback port nothing listens on (bound and released: connections are refused)."""
    return free_port()


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer() as sim:
        yield sim


@contextmanager
def serve(
    pg_url: str,
    data_dir: Path,
    simulator: SimulatorServer,
    *,
    shop: dict[str, Any] | None = None,
    limit_settings: LimitSettings | None = None,
    uvicorn: dict[str, Any] | None = None,
    **settings: Any,
) -> Iterator[ServerThread]:
    """The app as ``python -m proxy serve`` runs it, for the tenants above."""
    tenants = directory(
        make_tenant(
            "shop",
            ["shop.test"],
            client_keys=(SHOP_KEY,),
            base_url=simulator.base_url,
            identity_secret=IDENTITY_SECRET,
            tools=["capture_lead", "escalate_to_human"],
            lead_recipients=["team@shop.test"],
            **(shop or {}),
        ),
        make_tenant("other", ["other.test"], client_keys=(OTHER_KEY,), base_url=simulator.base_url),
        # the provider refuses this key, with its own words about it
        make_tenant("badkey", ["badkey.test"], base_url=simulator.base_url, api_key="sk-invalid-key-of-badkey-9876"),
        # nothing listens where this provider should be
        make_tenant("down", ["down.test"], base_url=f"http://127.0.0.1:{closed_port()}/v1"),
    )
    settings.setdefault("provider_max_retries", 0)
    settings.setdefault("disconnect_grace", 0)
    settings.setdefault("metrics_token", METRICS_TOKEN)
    app = create_app(
        make_settings(pg_url, data_dir, **settings),
        tenants=tenants,
        limit_settings=limit_settings or LimitSettings(_env_file=None),  # type: ignore[call-arg]
    )
    with ServerThread(app, **(uvicorn or {})) as server:
        yield server


@pytest.fixture(scope="package")
def service(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory, simulator: SimulatorServer
) -> Iterator[ServerThread]:
    """The app as configured above, started once for the folder's tests that need nothing else: they
    share the database anyway, and their wrong keys stay well below the failed-authentication
    throttle (10 from one address); a test that changes the app or trips a limit serves its own."""
    with serve(pg_url, tmp_path_factory.mktemp("hardening"), simulator) as server:
        yield server


@pytest.fixture
async def http(service: ServerThread) -> Iterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, timeout=20) as client:
        yield client
