"""Locators and small actions for the widget inside a page (Playwright pierces its open shadow root)."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Locator, Page, expect

HOST = "assistant-proxy-widget"

# Records every text a node of the widget shows, so that short-lived states (a tool status) and
# "how often" questions (live-region announcements) can be asserted without timing.
RECORDER = """
([selector, name]) => {
  const root = document.querySelector("assistant-proxy-widget").shadowRoot;
  const node = root.querySelector(selector);
  const seen = (window[name] = []);
  const note = () => {
    const text = node.hidden ? "" : node.textContent;
    if (text && seen[seen.length - 1] !== text) seen.push(text);
  };
  new MutationObserver(note).observe(node, {childList: true, subtree: true, characterData: true, attributes: true});
  note();
}
"""


class Widget:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.host = page.locator(HOST)
        self.root = self.host.locator(".root")
        self.launcher = self.host.locator(".launcher")
        self.panel = self.host.locator(".panel")
        self.log = self.host.locator(".log")
        self.input = self.host.locator("textarea")
        self.send_button = self.host.locator("button.send")
        self.stop_button = self.host.locator("button.stop")
        self.new_button = self.host.locator("button.new")
        self.status = self.host.locator(".status")
        self.announcer = self.host.locator(".announcer")
        self.suggestions = self.host.locator(".suggestions .chip")

    def messages(self, role: str) -> Locator:
        return self.log.locator(f'.msg[data-role="{role}"]')

    def assistant(self, index: int = -1) -> Locator:
        replies = self.messages("assistant")
        return replies.last if index == -1 else replies.nth(index)

    def user(self, index: int = -1) -> Locator:
        mine = self.messages("user")
        return mine.last if index == -1 else mine.nth(index)

    async def open(self) -> None:
        await self.launcher.click()
        await expect(self.panel).to_be_visible()
        await self.settled()

    async def settled(self) -> None:
        """Until the panel's opening animation (if motion is allowed) has finished."""
        await self.panel.evaluate("el => Promise.all(el.getAnimations().map(a => a.finished))")

    async def send(self, text: str) -> None:
        await self.input.fill(text)
        await self.input.press("Enter")

    async def reply_done(self, index: int = -1) -> Locator:
        reply = self.assistant(index)
        await expect(reply).to_have_attribute("data-state", "done")
        await expect(self.stop_button).to_be_hidden()
        return reply

    async def wait_for_status(self, text: str) -> None:
        """Wait (checking every animation frame) until the status line shows ``text``."""
        await self.page.wait_for_function(
            """(text) => {
              const status = document.querySelector("assistant-proxy-widget").shadowRoot.querySelector(".status");
              return !status.hidden && status.textContent.includes(text);
            }""",
            arg=text,
            polling="raf",
        )

    async def record(self, selector: str, name: str) -> None:
        await self.page.evaluate(RECORDER, [selector, name])

    async def recorded(self, name: str) -> list[str]:
        return await self.page.evaluate(f"window[{name!r}]")

    async def active_element(self) -> dict[str, Any]:
        """What has focus inside the widget (its shadow root's activeElement)."""
        return await self.page.evaluate(
            """() => {
              const host = document.querySelector("assistant-proxy-widget");
              const el = host && host.shadowRoot.activeElement;
              return {inWidget: document.activeElement === host, tag: el ? el.tagName.toLowerCase() : null,
                      cls: el ? el.className : null};
            }"""
        )
