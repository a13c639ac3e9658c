"""The grounding suite's world: the demo shop (seeded once per run), the simulator answering with
the offline model at a fixed "now", and the real service in front of it, once per engine.

The expected facts are computed here with SQL on the shop's tables, never through the shop tools.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.app import create_app
from proxy.identity import issue_identity_token
from proxy.mail.settings import MailSettings
from proxy.simulator import ServerThread, SimulatorConfig, SimulatorServer
from proxy.store.db import Database
from tests.support.apps import directory, make_settings, make_tenant, sse_events
from tests.support.demo_shop import DemoShop

TENANT = "demo"
SECRET = "grounding-identity-secret-of-32-bytes"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # the demo's twelve months end on 2026-10-31
TOOLS = [
    "search_products",
    "get_product",
    "find_customer",
    "customer_orders",
    "shop_insights",
    "capture_lead",
    "escalate_to_human",
]


@pytest.fixture(scope="session")
def demo_shop(demo_shop_seed: DemoShop) -> str:
    assert demo_shop_seed.tenant == TENANT
    return TENANT


@pytest.fixture(scope="session")
def offline_simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(model="offline", now=NOW)) as sim:
        yield sim


@dataclass
class Service:
    engine: str
    server: ServerThread

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="session", params=["responses", "chat"])
def service(
    request: pytest.FixtureRequest,
    pg_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    offline_simulator: SimulatorServer,
    demo_shop: str,
) -> Iterator[Service]:
    engine = request.param
    tenant = make_tenant(
        TENANT,
        ["shop.grounding.test"],
        engine=engine,
        base_url=offline_simulator.base_url,
        identity_secret=SECRET,
        tools=TOOLS,
        lead_recipients=["sales@shop.grounding.test"],
        instructions="You are the assistant of an outdoor gear shop. Answer from the tools.",
        shop={"source": "demo"},
    )
    settings = make_settings(pg_url, Path(tmp_path_factory.mktemp(f"grounding-{engine}")), provider_max_retries=0)
    app = create_app(settings, tenants=directory(tenant), mail_settings=MailSettings(_env_file=None))  # type: ignore[call-arg]
    with ServerThread(app) as server:
        yield Service(engine, server)


@dataclass(frozen=True)
class Visitor:
    kind: str  # anonymous | identified | staff
    email: str | None = None

    def token(self) -> str | None:
        if self.kind == "anonymous":
            return None
        return issue_identity_token(
            secret=SECRET,
            tenant=TENANT,
            sub=f"user-{self.email or 'staff'}",
            email=self.email,
            staff=self.kind == "staff",
            now=time.time(),
        )


@dataclass
class Conversation:
    thread_id: str
    replies: list[str]
    events: list[list[tuple[str, dict[str, Any], str | None]]]


async def converse(service: Service, visitor: Visitor, messages: list[str]) -> Conversation:
    """Send ``messages`` one after another in one new thread; the reply text of each."""
    headers = {"Origin": "https://shop.grounding.test"}
    token = visitor.token()
    if token:  # the host site's page sends it with every request, as the widget does
        headers["X-Identity-Token"] = token
    async with httpx.AsyncClient(base_url=service.url, headers=headers, timeout=60) as http:
        created = await http.post("/v1/threads", json={"identity_token": token} if token else None)
        assert created.status_code == 201, created.text
        thread_id = created.json()["thread_id"]
        replies, all_events = [], []
        for message in messages:
            response = await http.post(f"/v1/threads/{thread_id}/messages", json={"content": message})
            assert response.status_code == 200, response.text
            events = sse_events(response.text)
            names = [name for name, _, _ in events]
            assert names[-1] == "done" and "error" not in names, events
            replies.append("".join(data["delta"] for name, data, _ in events if name == "message.delta"))
            all_events.append(events)
        return Conversation(thread_id, replies, all_events)


@pytest.fixture
async def db(database: Database) -> AsyncIterator[Database]:
    yield database


def pytest_report_header() -> list[str]:
    database = os.environ.get("TEST_DATABASE_URL", "embedded")
    return [f"grounding: demo shop, offline model at {NOW.isoformat()}, database {database}"]
