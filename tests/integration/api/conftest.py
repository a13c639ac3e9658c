from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from proxy.app import create_app
from proxy.tools.registry import ToolContext, ToolError, ToolRegistry
from tests.support.apps import directory, make_settings, make_tenant
from tests.support.scripted_engine import ScriptedEngine

SHOP = "https://www.shop.test"
OTHER = "https://other.test"


def test_tools() -> ToolRegistry:
    registry = ToolRegistry()

    @registry.tool(
        name="lookup",
        description="Look a word up",
        parameters={"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
    )
    async def lookup(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("word") == "boom":
            raise ToolError("the dictionary is closed")
        return {"word": args.get("word"), "tenant": ctx.tenant, "visitor": ctx.visitor.kind}

    return registry


class Engines(dict[str, ScriptedEngine]):
    def factory(self, tenant: Any, http_client: Any, settings: Any) -> ScriptedEngine:
        engine = ScriptedEngine(tenant.config.profile())
        self[tenant.name] = engine
        return engine


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
            identity_secret="identity-secret-shop",
        ),
        make_tenant("other", ["other.test"], client_keys=("ck_other_secret",)),
    )
    settings = make_settings(pg_url, tmp_path, max_message_chars=200, max_body_bytes=4096, heartbeat_interval=30)
    app = create_app(settings, tenants=tenants, tools=test_tools(), engine_factory=engines.factory)
    async with AsyncTestClient(app, base_url="http://proxy.test") as test_client:
        yield test_client
