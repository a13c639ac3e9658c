"""Browser tests of the widget: one headless Chromium per run, the real proxy on 127.0.0.1.

The proxy is ``proxy.app.create_app`` over the test Postgres, served by uvicorn in a thread, with
the real engines talking to ``SimulatorServer`` (OpenAI's protocol; ``[[reply:...]]``,
``[[tool:...]]``, ``[[pace:...]]``, ``[[fault:...]]`` in a message steer it) and real tools
dispatched by the turn runner (the lead tools, plus a few shop stand-ins defined here).

Two tenants, both answered by the simulator:

- ``harbor`` (origin host ``127.0.0.1``). Host pages for it come from a second little server,
  ``site.open(page, **data_attributes)``: a real cross-origin embed.
- ``limited`` (origin host ``localhost``): one message a minute per visitor.

The demo's own pages (``/demo``, ``/demo/account``, ``/demo/staff``) run on a proxy of their own,
with the demo tenant and the demo shop: see ``test_demo.py``.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from litestar import Litestar, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from playwright.async_api import Browser, BrowserContext, Page

from proxy.app import create_app
from proxy.leads.tools import register_lead_tools
from proxy.limits.config import LimitsConfig
from proxy.simulator import ServerThread, SimulatorServer
from proxy.tools.registry import ToolContext, ToolRegistry
from proxy.widget.config import WidgetConfig
from tests.support.apps import directory, make_settings, make_tenant

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"

WIDGET = WidgetConfig(
    title="Harbor & Pine",
    subtitle="Usually replies in a few seconds",
    greeting="Hi! I'm the **Harbor & Pine** assistant. Ask me about coffee, brewing or your order.",
    suggested_questions=["Which roast suits a pour-over?", "Do you ship to Norway?"],
    primary_color="#7c3f12",
    avatar_url="/demo/avatar.svg",
    tool_labels={"track_order": "Looking up your order…"},
)
IDENTITY_SECRET = "e2e-identity-secret-of-at-least-32-bytes"
TOOLS = ["search_products", "track_order", "save_contact", "capture_lead", "escalate_to_human"]


def e2e_tools() -> ToolRegistry:
    """The product's lead tools, and stand-ins for shop tools that would need a catalogue."""
    registry = ToolRegistry()
    register_lead_tools(registry)
    any_args = {"type": "object", "properties": {}, "additionalProperties": True}

    @registry.tool(name="search_products", description="Search the catalogue", parameters=any_args)
    async def search_products(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        await anyio.sleep(0.6)  # a catalogue search takes a moment (long enough for a screenshot)
        return {"products": [{"name": "Stoneware Pour-over Dripper", "price": "€32.00"}]}

    @registry.tool(name="track_order", description="Where is an order", parameters=any_args)
    async def track_order(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        await anyio.sleep(0.4)
        return {"status": "shipped"}

    @registry.tool(name="save_contact", description="Save the visitor's contact details", parameters=any_args)
    async def save_contact(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        ctx.emit("lead.captured", {"lead_id": "lead_e2e", "email": args.get("email")})
        return {"status": "saved"}

    return registry


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorServer]:
    """The default model, the offline one: the demo pages' questions need it; the widget's tests
    steer every reply they check with directives, which the echo model answers."""
    with SimulatorServer() as running:
        yield running


@dataclass
class Proxy:
    server: ServerThread
    simulator: SimulatorServer

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="session")
def proxy(pg_url: str, tmp_path_factory: pytest.TempPathFactory, simulator: SimulatorServer) -> Iterator[Proxy]:
    tenants = directory(
        make_tenant(
            "harbor",
            ["127.0.0.1"],
            base_url=simulator.base_url,
            api_key="sk-sim",
            tools=TOOLS,
            widget=WIDGET,
            identity_secret=IDENTITY_SECRET,
            # every test's browser is 127.0.0.1: only the per-visitor limit (each test is a new visitor)
            limits=LimitsConfig(messages_per_minute_per_ip=0, threads_per_hour_per_ip=0),
        ),
        make_tenant(
            "limited",
            ["localhost"],
            base_url=simulator.base_url,
            api_key="sk-sim",
            widget=WIDGET,
            limits=LimitsConfig(
                messages_per_minute_per_visitor=1, messages_per_minute_per_ip=0, threads_per_hour_per_ip=0
            ),
        ),
    )
    settings = make_settings(pg_url, tmp_path_factory.mktemp("e2e"), heartbeat_interval=0.5)
    app = create_app(settings, tenants=tenants, tools=e2e_tools())
    with ServerThread(app) as running:
        yield Proxy(running, simulator)


@pytest.fixture(scope="session")
def browser(browser: Browser) -> Browser:
    """The run's one browser (``tests/conftest.py``), with the folder for screenshots made."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return browser


@pytest.fixture
def context_options() -> dict[str, Any]:
    return {"viewport": {"width": 1280, "height": 820}, "locale": "en-US"}


@pytest.fixture
async def context(browser: Browser, context_options: dict[str, Any]) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(**context_options)
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        await ctx.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Host page</title>
<style>{css}</style></head>
<body><h1>A host page</h1><p>Nothing to focus here but the widget.</p>
<script src="{src}" async {attrs}></script></body></html>
"""


@dataclass
class Site:
    """Host pages the widget is embedded in, served by their own little server.

    The page's origin (``http://127.0.0.1:<its port>``) differs from the proxy's, as on a real
    customer site: the widget's calls are cross-origin, carry ``Origin`` and go through CORS.
    """

    server: ServerThread
    proxy: Proxy
    pages: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    async def open(self, page: Page, *, css: str = "", host: str = "127.0.0.1", **data: str) -> None:
        """A page embedding the widget; ``host="localhost"`` makes it a page of the ``limited`` tenant."""
        attrs = " ".join(f'data-{key.replace("_", "-")}="{html.escape(value)}"' for key, value in data.items())
        name = f"p{len(self.pages)}"
        self.pages[name] = HOST_PAGE.format(src=f"{self.proxy.url}/widget.js", attrs=attrs, css=css)
        await page.goto(f"http://{host}:{self.server.port}/{name}")


@pytest.fixture(scope="session")
def host_site(proxy: Proxy) -> Iterator[Site]:
    pages: dict[str, str] = {}

    @get("/{name:str}", media_type="text/html; charset=utf-8", sync_to_thread=False)
    def host_page(name: FromPath[str]) -> str:
        if name not in pages:
            raise NotFoundException()
        return pages[name]

    with ServerThread(Litestar([host_page], logging_config=None)) as running:
        yield Site(running, proxy, pages)


@pytest.fixture
def site(host_site: Site) -> Site:
    return host_site


def shot(name: str) -> Path:
    return ARTIFACTS / f"{name}.png"
