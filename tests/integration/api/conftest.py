"""The v1 API's app for this folder's tests: started once, each test given engines of its own.

Starting the app (its lifespan: database pool, HTTP client, background workers, the start-up
collection of the garbage collector) takes one to two seconds; started once for the folder it is
paid once. Each test still gets fresh scripted engines (``engines``): ``client`` puts them in the
running app's table of engines by tenant, the one its turns are run with. The tests share the
database as they always did, so each makes ids (threads, visitors, users) of its own.

A test that changes the app itself (drains it, overloads it, limits it) builds an app of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from proxy.app import create_app
from proxy.services import Services
from tests.support.apps import directory, make_settings, make_tenant
from tests.support.scripted_engine import Engines, scripted_tools


@pytest.fixture
def engines() -> Engines:
    return Engines()


@pytest.fixture(scope="package")
async def shared_client(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsyncTestClient]:
    """The app, running for the whole folder (see the module's docstring)."""
    tenants = directory(
        make_tenant(
            "shop",
            ["shop.test", "*.shops.test"],
            client_keys=("ck_shop_secret",),
            tools=["lookup"],
            identity_secret="identity-secret-of-the-shop-tenant-32b",
        ),
        make_tenant("other", ["other.test"], client_keys=("ck_other_secret",)),
    )
    settings = make_settings(
        pg_url,
        tmp_path_factory.mktemp("api"),
        max_message_chars=200,
        max_body_bytes=4096,
        heartbeat_interval=30,
        # the old routes' frames 5 ms apart, not 40: an in-process client reads the whole body at
        # once, so the gap only adds time here; the frames as separate network reads, at the
        # default gap, are tested over TCP (test_compat.py, tests/e2e/test_old_widget.py)
        compat_frame_gap=0.005,
    )
    app = create_app(settings, tenants=tenants, tools=scripted_tools(), engine_factory=Engines().factory)
    async with AsyncTestClient(app, base_url="http://proxy.test") as test_client:
        yield test_client


@pytest.fixture
def client(shared_client: AsyncTestClient, engines: Engines) -> AsyncTestClient:
    """The running app with this test's ``engines`` in it, and no cookies from an earlier test."""
    services: Services = shared_client.app.state.services
    for tenant in services.tenants:
        services.engines[tenant.name] = engines.factory(tenant, None, services.settings)
    shared_client.cookies.clear()
    return shared_client
