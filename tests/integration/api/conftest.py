from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from proxy.app import create_app
from tests.support.apps import directory, make_settings, make_tenant
from tests.support.scripted_engine import Engines, scripted_tools


@pytest.fixture
def engines() -> Engines:
    return Engines()


@pytest.fixture
async def client(pg_url: str, tmp_path: Path, engines: Engines) -> AsyncIterator[AsyncTestClient]:
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
    settings = make_settings(pg_url, tmp_path, max_message_chars=200, max_body_bytes=4096, heartbeat_interval=30)
    app = create_app(settings, tenants=tenants, tools=scripted_tools(), engine_factory=engines.factory)
    async with AsyncTestClient(app, base_url="http://proxy.test") as test_client:
        yield test_client
