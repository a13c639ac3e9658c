"""Widgets deployed for the old NestJS service, in a real Chromium, against ``/open-ai/*``.

The page carries a stand-in of the old widget's stream reader, written for this test to behave
as the seed protocol describes the original: ``fetch`` + ``reader.read()``, one
``JSON.parse(chunk.slice(6))`` per read (a read that does not parse is dropped), delta text
appended, ``thread.message.completed`` replacing it, ``system.error`` shown as an error, and the
name of any other event shown as the reply while no text has arrived; a non-2xx answer shows the
widget's own error. The service is the real app, configured the old way (``DOMAINS``,
``OPENAI_API_KEYS``, ``EMAIL_TO``), over real TCP, with the OpenAI-protocol simulator as provider;
some tests run twice, directly and through nginx configured as docs/production.md recommends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from litestar import Litestar, get
from litestar.params import FromPath
from playwright.async_api import Browser, Page

from proxy.app import create_app
from proxy.limits.config import LimitsConfig
from proxy.simulator import ServerThread, SimulatorServer
from proxy.store.db import Database
from proxy.tenants import TenantDirectory, load_tenants
from tests.support.apps import NO_LIMITS, make_settings
from tests.support.nginx import nginx_in_front

GENERIC_ERROR = "An error occurred while processing your message. Please try again."

OLD_READER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A shop with the old widget</title>
<style>.bot.error { color: #d33; }</style></head>
<body><div id="thread"></div>
<script>
// How the old widget reads a reply, as the seed protocol describes it.
const API = "__API__";
const thread = document.getElementById("thread");

function shownFor(frame) {  // the text the old widget takes from a frame
  const name = frame ? frame.event : "no-response";
  if (name === "thread.message.delta") return frame.delta.content[0].text.value;
  if (name === "thread.message.completed") return frame.content[0].text.value;
  if (name === "thread.run.created") return "Processing ...";
  if (name === "thread.run.requires_action") return "Performing thread action ...";
  if (name === "system.error") return frame.content || "A system error occurred. Please try again.";
  return name;  // any other event: its name
}

const oldChat = {
  threadId: null,
  unparsed: 0,  // reads that were not exactly one frame (what the old widget dropped)
  showError(bubble, text) { bubble.textContent = text; bubble.classList.add("error"); },
  async send(message) {
    const bubble = document.createElement("div");
    bubble.className = "bot";
    bubble.textContent = "Thinking ...";
    thread.appendChild(bubble);
    if (!this.threadId) {
      const created = await fetch(API + "/create-thread", {headers: {"Content-Type": "application/json"}});
      this.threadId = (await created.json()).id;
    }
    const response = await fetch(API + "/process-message", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({threadId: this.threadId, message: message}),
    });
    if (!response.ok) {
      this.showError(bubble, "__GENERIC_ERROR__");
    } else {
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let text = "";
      let finished = false;
      while (!finished) {
        const read = await reader.read();
        finished = read.done;
        const chunk = decoder.decode(read.value, {stream: true});
        let frame;
        if (chunk.startsWith("data: ")) {
          try { frame = JSON.parse(chunk.slice(6)); } catch (e) { this.unparsed += 1; continue; }
        }
        const shown = shownFor(frame);
        if (frame && frame.event === "thread.message.delta") {
          text += shown;
        } else if (frame && frame.event === "thread.message.completed") {
          if (text !== shown) text = shown;
        } else if (frame && !text) {
          if (frame.event === "system.error") this.showError(bubble, shown); else bubble.textContent = shown;
          continue;
        }
        if (frame && frame.event === "system.error") this.showError(bubble, text);
        else if (text) bubble.textContent = text;
      }
    }
    return {text: bubble.textContent, error: bubble.classList.contains("error")};
  },
};
window.oldChat = oldChat;
</script></body></html>
"""

PACES = (0, 10, 40, 70)  # ms between the provider's tokens, in turn: bursts, and about one frame gap


def reply_text(visitor: int, n: int) -> str:
    return (
        f"Reply {n} for visitor {visitor}: your parcel leaves the warehouse on Monday, and the team"
        f" will answer by email to bob{visitor}x{n}@example.com."
    )


def short_reply_text(visitor: int, n: int) -> str:
    """Seven tokens instead of 21: at the slower paces each token is a frame of its own, and these
    still come a frame gap apart, as do the reply's last frames, which decide what is shown."""
    return f"Reply {n} for visitor {visitor}: mail bob{visitor}x{n}@example.com."


def ask(visitor: int, n: int, text: Callable[[int, int], str] = reply_text) -> str:
    return f"[[reply:{text(visitor, n)}]] [[pace:ttft=0,gap={PACES[n % len(PACES)]}]]"


@dataclasses.dataclass
class OldService:
    server: ServerThread
    tenant: str


@pytest.fixture(scope="module")
def old_service(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory, simulator: SimulatorServer
) -> Iterator[OldService]:
    """The service configured as an old deployment was: the old environment arrays."""
    settings = make_settings(
        pg_url,
        Path(tmp_path_factory.mktemp("old-widget")),
        legacy_domains=["127.0.0.1"],
        legacy_api_keys=["sk-old"],
        legacy_email_to=["team@old-shop.test"],
        openai_base_url=simulator.base_url,
    )
    [tenant] = list(load_tenants(settings, env={}))
    assert tenant.config.tools == ["sendEmail"]
    # every visitor of the test comes from 127.0.0.1: the per-address limits are lifted
    unlimited = tenant.config.model_copy(update={"limits": LimitsConfig(**NO_LIMITS)})
    tenants = TenantDirectory([dataclasses.replace(tenant, config=unlimited)])
    with ServerThread(create_app(settings, tenants=tenants)) as running:
        yield OldService(running, tenant.name)


@pytest.fixture(scope="module")
def nginx(old_service: OldService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx in front of the service, configured as docs/production.md says."""
    server = old_service.server
    with nginx_in_front(f"{server.host}:{server.port}", Path(tmp_path_factory.mktemp("nginx"))) as url:
        yield url


@pytest.fixture(scope="module")
def shop_site(old_service: OldService) -> Iterator[Site]:
    """The shop's own site (another origin), whose pages embed the old widget."""
    site = Site({})

    @get("/{name:str}", media_type="text/html; charset=utf-8", sync_to_thread=False)
    def page(name: FromPath[str]) -> str:
        return site.pages[name]

    with ServerThread(Litestar([page], logging_config=None)) as running:
        site.url = running.url
        yield site


@dataclasses.dataclass
class Site:
    pages: dict[str, str]
    url: str = ""

    def add(self, name: str, service_url: str) -> str:
        """A page whose widget talks to ``service_url`` (the service, or a proxy in front of it)."""
        self.pages[name] = OLD_READER_PAGE.replace("__API__", f"{service_url}/open-ai").replace(
            "__GENERIC_ERROR__", GENERIC_ERROR
        )
        return f"{self.url}/{name}"


@pytest.fixture
def route() -> str:
    """How the widget reaches the service: ``direct``, or ``nginx`` in front of it."""
    return "direct"


@pytest.fixture
async def visitor_pages(
    browser: Browser, shop_site: Site, old_service: OldService, route: str, request: pytest.FixtureRequest
) -> AsyncIterator[list[Page]]:
    """Three visitors, each in a browser context of their own, on the shop's page."""
    service_url = old_service.server.url if route == "direct" else request.getfixturevalue("nginx")
    url = shop_site.add(route, service_url)
    contexts = [await browser.new_context() for _ in range(3)]
    try:
        pages = []
        for context in contexts:
            page = await context.new_page()
            await page.goto(url)
            pages.append(page)
        yield pages
    finally:
        for context in contexts:
            await context.close()


async def send(page: Page, message: str) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate("message => window.oldChat.send(message)", message)
    return result


async def unparsed_reads(page: Page) -> int:
    count: int = await page.evaluate("window.oldChat.unparsed")
    return count


async def test_fifty_replies_in_one_thread_each_whole(visitor_pages: list[Page]) -> None:
    """A long thread (its end frames list the newest twenty of up to 100 messages), every pace in
    turn. The replies are short ones: full-length replies at every pace are read in
    ``test_three_visitors_ten_replies_each_at_once``, and a reply's length (at 40 or 70 ms a token)
    was most of this test's time."""
    page = visitor_pages[0]
    for n in range(50):
        shown = await send(page, ask(0, n, short_reply_text))
        assert shown == {"text": short_reply_text(0, n), "error": False}, n
    print(f"reads that held more or less than one frame: {await unparsed_reads(page)}")


@pytest.mark.parametrize("route", ["direct", "nginx"])
async def test_three_visitors_ten_replies_each_at_once(visitor_pages: list[Page]) -> None:
    shown: dict[int, list[dict[str, Any]]] = {}

    async def converse(visitor: int) -> None:
        shown[visitor] = [await send(visitor_pages[visitor], ask(visitor, n)) for n in range(10)]

    async with anyio.create_task_group() as tg:
        for visitor in range(3):
            tg.start_soon(converse, visitor)
    for visitor in range(3):
        assert shown[visitor] == [{"text": reply_text(visitor, n), "error": False} for n in range(10)], visitor
    print(f"reads that held more or less than one frame: {[await unparsed_reads(p) for p in visitor_pages]}")


@pytest.mark.parametrize("route", ["direct", "nginx"])
async def test_failures_show_as_errors_and_the_next_message_is_answered(visitor_pages: list[Page]) -> None:
    page = visitor_pages[0]
    assert await send(page, ask(0, 1)) == {"text": reply_text(0, 1), "error": False}

    # the provider fails before any text: an HTTP 5xx as from the old service, the widget's own error
    assert await send(page, "[[fault:500]] Hello?") == {"text": GENERIC_ERROR, "error": True}
    assert await send(page, ask(0, 2)) == {"text": reply_text(0, 2), "error": False}

    # the provider's stream breaks off after some text: the text so far, shown as an error
    # (the old widget shows the words it has in red), never an event name such as "end"
    cut = await send(page, f"[[reply:{reply_text(0, 3)}]] [[fault:cut]]")
    assert cut["error"] is True
    assert reply_text(0, 3).startswith(cut["text"]) and 0 < len(cut["text"]) < len(reply_text(0, 3))
    assert await send(page, ask(0, 4)) == {"text": reply_text(0, 4), "error": False}


async def test_the_old_send_email_tool_saves_the_lead(
    visitor_pages: list[Page], old_service: OldService, database: Database
) -> None:
    args = '{"name": "Bob", "email": "bob.old@example.com", "message": "Please call me about a refund."}'
    said = "Thanks Bob, the team will reply by email to bob.old@example.com."
    shown = await send(visitor_pages[1], f"[[tool:sendEmail {args}]] [[reply:{said}]]")
    assert shown == {"text": said, "error": False}
    thread_id = await visitor_pages[1].evaluate("window.oldChat.threadId")
    leads = await database.fetch_all(
        "select name, email, message, source from leads where tenant = %s and thread_id = %s",
        (old_service.tenant, thread_id),
    )
    assert leads == [
        {
            "name": "Bob",
            "email": "bob.old@example.com",
            "message": "Please call me about a refund.",
            "source": "sendEmail",
        }
    ]
