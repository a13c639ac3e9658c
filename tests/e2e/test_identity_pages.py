"""A signed-in visitor keeps the conversation from page to page, though the host site mints a new
identity token on every page view: the widget keys the saved thread by who the token names."""

from __future__ import annotations

import secrets
import time

from playwright.async_api import Page, expect

from proxy.identity import issue_identity_token
from tests.e2e.conftest import IDENTITY_SECRET, Site
from tests.e2e.widget_page import Widget


def page_view_token(sub: str, issued: float) -> str:
    """What the host site renders into each page: a fresh token for the signed-in user."""
    return issue_identity_token(
        secret=IDENTITY_SECRET, tenant="harbor", sub=sub, email=f"{sub}@example.com", now=issued
    )


async def test_the_conversation_follows_a_signed_in_visitor_across_pages(page: Page, site: Site) -> None:
    sub = f"pages-{secrets.token_hex(4)}"
    first, second, third = (page_view_token(sub, time.time() - age) for age in (30, 20, 10))
    assert len({first, second, third}) == 3

    await site.open(page, identity_token=first)
    w = Widget(page)
    await w.open()
    await w.send("[[reply:Noted on page one.]]")
    await w.reply_done()

    # page two, a new token for the same user: the conversation is there, and continues
    created: list[str] = []
    page.on(
        "request", lambda r: created.append(r.url) if r.method == "POST" and r.url.endswith("/v1/threads") else None
    )
    await site.open(page, identity_token=second)
    await expect(w.panel).to_be_visible()
    await expect(w.assistant()).to_contain_text("Noted on page one.")
    await w.send("[[reply:And on page two.]]")
    await w.reply_done()
    assert created == []  # no new thread: the same one, across page views

    # page three: both turns are there
    await site.open(page, identity_token=third)
    await expect(w.messages("assistant")).to_have_count(2)
    await expect(w.assistant()).to_contain_text("And on page two.")

    # signed out (no token on the page): the signed-in conversation is not shown
    await site.open(page)
    await expect(w.messages("greeting")).to_be_visible()
    await expect(w.messages("user")).to_have_count(0)
