"""The widget's list of past conversations in Chromium: open one, start a new one, rename, delete;
with the keyboard only; in a right-to-left locale. The proxy and the simulator are real."""

from __future__ import annotations

import httpx
from playwright.async_api import Page, expect

from tests.e2e.conftest import Proxy, Site, shot
from tests.e2e.widget_page import Widget


class Conversations:
    def __init__(self, w: Widget) -> None:
        self.w = w
        self.button = w.host.locator("button.history")
        self.view = w.host.locator(".convos")
        self.items = w.host.locator(".convo")
        self.titles = w.host.locator(".convo-title")
        self.new = w.host.locator(".convos-new")

    def item(self, title: str):  # type: ignore[no-untyped-def]
        return self.items.filter(has_text=title)


async def ask(w: Widget, text: str) -> None:
    await w.send(text)
    await w.reply_done()


async def server_titles(page: Page, site: Site, proxy: Proxy) -> list[str]:
    visitor = await page.evaluate("() => Object.entries(localStorage).find(([k]) => k.endsWith(':visitor'))[1]")
    async with httpx.AsyncClient(base_url=proxy.url, headers={"Origin": site.url, "X-Visitor-Id": visitor}) as http:
        return [t["title"] for t in (await http.get("/v1/threads")).json()["threads"]]


async def two_conversations(w: Widget, c: Conversations) -> None:
    await ask(w, "Which roast suits a pour-over?")
    await c.button.click()
    await expect(c.view).to_be_visible()
    await c.new.click()
    await expect(c.view).to_be_hidden()
    await expect(w.messages("user")).to_have_count(0)
    await ask(w, "Do you ship to Norway?")


async def test_open_rename_delete(page: Page, site: Site, proxy: Proxy) -> None:
    await site.open(page)
    w = Widget(page)
    c = Conversations(w)
    await w.open()
    await two_conversations(w, c)

    await c.button.click()
    await expect(c.titles).to_have_text(["Do you ship to Norway?", "Which roast suits a pour-over?"])
    await expect(c.button).to_have_attribute("aria-expanded", "true")
    await expect(w.log).to_be_hidden()
    await expect(c.items.first.locator(".convo-open")).to_have_attribute("aria-current", "true")
    await expect(c.items.first.locator(".convo-preview")).not_to_be_empty()
    await page.screenshot(path=shot("conversations-list"))

    # open the older one: its messages come back
    await c.item("Which roast").locator(".convo-open").click()
    await expect(c.view).to_be_hidden()
    await expect(w.user().locator(".bubble")).to_have_text("Which roast suits a pour-over?")
    await expect(w.messages("user")).to_have_count(1)

    # rename it
    await c.button.click()
    await c.item("Which roast").locator(".convo-rename").click()
    field = c.view.locator("input")
    await expect(field).to_be_focused()
    await field.fill("Pour-over beans")
    await field.press("Enter")
    await expect(c.titles).to_have_text(["Do you ship to Norway?", "Pour-over beans"])
    await expect(w.announcer).to_have_text("Renamed to “Pour-over beans”.")
    assert await server_titles(page, site, proxy) == ["Do you ship to Norway?", "Pour-over beans"]

    # delete the one on screen: confirmed first, then the chat starts afresh
    await c.item("Pour-over beans").locator(".convo-delete").click()
    await expect(c.view.locator(".convo-question")).to_have_text("Delete “Pour-over beans” for good?")
    await c.view.locator(".convo-confirm").click()
    await expect(c.titles).to_have_text(["Do you ship to Norway?"])
    await expect(w.announcer).to_have_text("“Pour-over beans” deleted.")
    assert await server_titles(page, site, proxy) == ["Do you ship to Norway?"]
    await c.button.click()
    await expect(w.messages("user")).to_have_count(0)  # the deleted conversation is not shown any more


async def focused(w: Widget) -> str:
    return str((await w.active_element())["cls"])


async def tab_to(page: Page, w: Widget, cls: str, key: str = "Tab", limit: int = 12) -> None:
    for _ in range(limit):
        if cls in (await focused(w)).split():
            return
        await page.keyboard.press(key)
    raise AssertionError(f"{cls} never got the focus (last: {await focused(w)})")


async def test_keyboard_only(page: Page, site: Site) -> None:
    await site.open(page)
    w = Widget(page)
    c = Conversations(w)
    await expect(w.launcher).to_be_visible()
    await page.keyboard.press("Tab")
    assert "launcher" in await focused(w)
    await page.keyboard.press("Enter")  # the launcher opens the chat
    await expect(w.input).to_be_focused()
    await page.keyboard.type("Which roast suits a pour-over?")
    await page.keyboard.press("Enter")
    await w.reply_done()

    await tab_to(page, w, "history", "Shift+Tab")
    await page.keyboard.press("Enter")
    await expect(c.view).to_be_visible()
    await expect(c.items).to_have_count(1)
    assert "convo-open" in await focused(w)  # the first conversation has the focus

    await page.keyboard.press("Tab")  # its rename button
    assert "convo-rename" in await focused(w)
    await page.keyboard.press("Enter")
    await page.keyboard.press("Control+A")
    await page.keyboard.type("Beans")
    await page.keyboard.press("Escape")  # leaves the rename only
    await expect(c.titles).to_have_text(["Which roast suits a pour-over?"])
    await expect(c.view).to_be_visible()
    assert "convo-rename" in await focused(w)
    await page.keyboard.press("Enter")
    await page.keyboard.press("Control+A")
    await page.keyboard.type("Beans")
    await page.keyboard.press("Enter")
    await expect(c.titles).to_have_text(["Beans"])
    assert "convo-rename" in await focused(w)

    await page.keyboard.press("Tab")  # delete, then confirm
    assert "convo-delete" in await focused(w)
    await page.keyboard.press("Enter")
    assert "convo-cancel" in await focused(w)  # the safe choice first
    await page.keyboard.press("Shift+Tab")
    assert "convo-confirm" in await focused(w)
    await page.keyboard.press("Enter")
    await expect(c.items).to_have_count(0)
    await expect(c.view.locator(".convos-status")).to_have_text("No past conversations yet.")
    assert "convos-new" in await focused(w)

    await page.keyboard.press("Escape")  # closes the list, not the chat
    await expect(c.view).to_be_hidden()
    await expect(w.panel).to_be_visible()
    assert "history" in await focused(w)


async def test_right_to_left(page: Page, site: Site) -> None:
    await site.open(page, locale="ar")
    w = Widget(page)
    c = Conversations(w)
    await w.open()
    await ask(w, "ما هو أفضل بن للتقطير؟")
    await c.button.click()
    await expect(c.view.locator("h3")).to_have_text("محادثاتك")
    await expect(c.titles).to_have_text(["ما هو أفضل بن للتقطير؟"])
    assert await c.view.evaluate("el => getComputedStyle(el).direction") == "rtl"
    item = c.items.first
    opener = await item.locator(".convo-open").bounding_box()
    remove = await item.locator(".convo-delete").bounding_box()
    assert opener and remove and remove["x"] < opener["x"]  # mirrored: the actions sit on the left
    await expect(item.locator(".convo-delete")).to_have_attribute("aria-label", "حذف")
    await page.screenshot(path=shot("conversations-rtl"))
