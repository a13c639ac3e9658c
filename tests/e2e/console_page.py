"""The staff console in a browser: signing in, opening a conversation, taking it over."""

from __future__ import annotations

import time

import jwt
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect


def staff_token(secret: str, tenant: str, sub: str = "sam") -> str:
    now = int(time.time())
    claims = {"sub": sub, "email": f"{sub}@harbor.test", "aud": tenant, "role": "staff", "iat": now, "exp": now + 900}
    return jwt.encode(claims, secret, algorithm="HS256")


class Console:
    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.transcript = page.locator("#transcript")
        self.holder = page.locator("#holder")

    @classmethod
    async def open(cls, browser: Browser, base_url: str) -> tuple[BrowserContext, Console]:
        context = await browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
        context.set_default_timeout(10_000)
        return context, cls(await context.new_page(), base_url)

    async def sign_in(self, name: str, *, token: str | None = None, client_key: str | None = None) -> None:
        await self.page.goto(f"{self.base_url}/console")
        await self.page.fill("#signin-name", name)
        if token:
            await self.page.fill("#signin-token", token)
        if client_key:
            await self.page.fill("#signin-key", client_key)
        await self.page.click("#signin-form button[type=submit]")
        await expect(self.page.locator("#staff-name")).to_have_text(name)

    def inbox_item(self, text: str) -> Locator:
        return self.page.locator("#inbox li", has_text=text)

    async def open_from_inbox(self, text: str) -> None:
        await self.inbox_item(text).click()
        await expect(self.page.locator("#thread")).to_have_attribute("data-live", "open")

    def message(self, role: str, text: str) -> Locator:
        return self.transcript.locator(f'li[data-role="{role}"]', has_text=text)

    async def take_over(self) -> None:
        await self.page.click("#take-over")
        await expect(self.holder).to_have_text("You hold this conversation")

    async def say(self, text: str) -> None:
        await self.page.fill("#reply", text)
        await self.page.press("#reply", "Enter")
        await expect(self.message("human", text)).to_be_visible()

    async def hand_back(self) -> None:
        await self.page.click("#hand-back")
        await expect(self.holder).to_have_text("The assistant answers")
