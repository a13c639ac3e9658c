"""A React page on the AI SDK's ``useChat``, bundled with esbuild, in Debian's chromium.

The page is served from its own origin (a second little server), so its calls to the gateway are
cross-origin, carry ``Origin`` and go through CORS, as on a customer's site.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar import Litestar, get
from playwright.async_api import Browser, Page, expect

from proxy.simulator import ServerThread
from tests.frontends.conftest import HERE, Gateway

pytestmark = pytest.mark.integration

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>useChat</title></head>
<body><div id="root"></div>
<script>window.GATEWAY = "{gateway}";</script>
<script type="module" src="/chat_page.js"></script></body></html>
"""


@pytest.fixture(scope="session")
def bundle(node_packages: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "chat_page.js"
    esbuild = node_packages / ".bin" / "esbuild"
    subprocess.run(
        [str(esbuild), "chat_page.jsx", "--bundle", "--format=esm", "--jsx=automatic", "--minify",
         '--define:process.env.NODE_ENV="production"', f"--outfile={out}", "--log-level=warning"],
        cwd=HERE,
        check=True,
        timeout=120,
    )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def chat_site(bundle: Path, gateway: Gateway) -> Iterator[str]:
    script = bundle.read_text()

    @get("/", media_type="text/html; charset=utf-8", sync_to_thread=False)
    def page() -> str:
        return PAGE.format(gateway=gateway.url)

    @get("/chat_page.js", media_type="text/javascript", sync_to_thread=False)
    def chat_page() -> str:
        return script

    with ServerThread(Litestar([page, chat_page], logging_config=None)) as running:
        yield running.url


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    context.set_default_timeout(15_000)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def send(page: Page, text: str) -> None:
    await expect(page.locator("#send")).to_be_enabled()
    await page.fill("#input", text)
    await page.click("#send")


async def test_use_chat_renders_the_streamed_reply(page: Page, chat_site: str) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(chat_site)

    await send(page, "[[pace:gap=30]] [[reply:Our dripper is stoneware and costs 32 euros.]] tell me")

    await expect(page.locator("li.user")).to_have_text(
        "[[pace:gap=30]] [[reply:Our dripper is stoneware and costs 32 euros.]] tell me"
    )
    await expect(page.locator("li.assistant")).to_have_text("Our dripper is stoneware and costs 32 euros.")
    await expect(page.locator("#status")).to_have_text("ready")

    # a second turn on the same thread, with one of our tools
    await send(page, '[[tool:search_products {"query": "dripper"}]] any drippers?')
    second = page.locator("li.assistant").nth(1)
    await expect(second.locator("[data-part=tool-search_products]")).to_have_text("output-available")
    await expect(second).to_contain_text("Stoneware Pour-over Dripper")
    assert errors == []


async def test_reload_resumes_the_running_reply(page: Page, chat_site: str) -> None:
    await page.goto(chat_site)
    words = " ".join(f"w{i}" for i in range(40))
    await send(page, f"[[pace:gap=80]] [[reply:{words}]]")
    await expect(page.locator("li.assistant")).to_contain_text("w2")

    await page.reload()  # the stream drops; useChat({resume: true}) reconnects to it

    await expect(page.locator("li.assistant")).to_have_text(words)
    await expect(page.locator("#status")).to_have_text("ready")
