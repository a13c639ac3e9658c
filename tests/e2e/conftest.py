"""Browser tests of the widget: one headless Chromium per run, the real proxy on 127.0.0.1.

The proxy is ``proxy.app.create_app`` over the test Postgres, served by uvicorn in a thread. Its
engine is ``DirectiveEngine``, which obeys the simulator's ``[[...]]`` directives in-process (see
``directive_engine.py``); pointing the tenant at the simulator instead is a change to the
``proxy_server`` fixture only.

Pages: ``site.open(page, **data_attributes)`` serves a plain host page from a second little server
(a real cross-origin embed: the page's origin differs from the proxy's), and ``/demo`` is the
proxy's own demo shop (same origin).
"""

from __future__ import annotations

import html
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.exceptions import NotFoundException
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from proxy.app import create_app
from proxy.server_thread import ServerThread
from proxy.widget.config import WidgetConfig
from tests.e2e.directive_engine import DirectiveEngine, DirectiveEngines
from tests.support.apps import directory, make_settings, make_tenant

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

DEMO_WIDGET = WidgetConfig(
    title="Harbor & Pine",
    subtitle="Usually replies in a few seconds",
    greeting="Hi! I'm the **Harbor & Pine** assistant. Ask me about coffee, brewing or your order.",
    suggested_questions=["Which roast suits a pour-over?", "Do you ship to Norway?"],
    primary_color="#7c3f12",
    avatar_url="/demo/avatar.svg",
    tool_labels={"track_order": "Looking up your order…"},
)


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def engines() -> DirectiveEngines:
    return DirectiveEngines()


@pytest.fixture(scope="session")
def proxy_server(pg_url: str, tmp_path_factory: pytest.TempPathFactory, engines: DirectiveEngines) -> Iterator[ServerThread]:
    tenants = directory(
        make_tenant("harbor", ["127.0.0.1", "localhost"], widget=DEMO_WIDGET),
    )
    settings = make_settings(pg_url, tmp_path_factory.mktemp("e2e"), heartbeat_interval=0.5)
    app = create_app(settings, tenants=tenants, engine_factory=engines.factory)
    registered = {route.path for route in app.routes}
    if "/widget.js" not in registered:  # until the app factory mounts the widget's routes itself
        from proxy.widget.routes import widget_routes

        for handler in widget_routes:
            app.register(handler)
    with ServerThread(app) as running:
        yield running


@pytest.fixture(scope="session")
def engine(proxy_server: ServerThread, engines: DirectiveEngines) -> DirectiveEngine:
    return engines["harbor"]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


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

    The page's origin (``http://localhost:<port>``) differs from the proxy's
    (``http://127.0.0.1:<port>``), as on a real customer site: the widget's calls are cross-origin,
    carry ``Origin`` and go through CORS.
    """

    server: ServerThread
    proxy: ServerThread
    pages: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://localhost:{self.server.port}"

    async def open(self, page: Page, *, css: str = "", **data: str) -> None:
        attrs = " ".join(f'data-{key.replace("_", "-")}="{html.escape(value)}"' for key, value in data.items())
        name = f"p{len(self.pages)}"
        self.pages[name] = HOST_PAGE.format(src=f"{self.proxy.url}/widget.js", attrs=attrs, css=css)
        await page.goto(f"{self.url}/{name}")


@pytest.fixture(scope="session")
def host_site(proxy_server: ServerThread) -> Iterator[Site]:
    pages: dict[str, str] = {}

    @get("/{name:str}", media_type="text/html; charset=utf-8", sync_to_thread=False)
    def host_page(name: str) -> str:
        if name not in pages:
            raise NotFoundException()
        return pages[name]

    with ServerThread(Litestar([host_page])) as running:
        yield Site(running, proxy_server, pages)


@pytest.fixture
def site(host_site: Site) -> Site:
    return host_site


def shot(name: str) -> Path:
    return ARTIFACTS / f"{name}.png"
