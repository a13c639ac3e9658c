"""The visitor's widget and the staff console side by side: a handoff, a takeover, messages both
ways as they are written, the assistant silent meanwhile, the hand-back (one server here; two in
``test_console_scaleout.py``)."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import IDENTITY_SECRET, Proxy, Site, shot
from tests.e2e.console_page import Console, staff_token
from tests.e2e.widget_page import Widget


def model_requests(simulator_url: str) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = httpx.get(f"{simulator_url}/_sim/requests").json()["requests"]
    return [r for r in requests if r["path"].endswith(("/responses", "/chat/completions"))]


async def takeover_round_trip(
    page: Page, browser: Browser, *, console_url: str, simulator_url: str, tenant: str, secret: str, marker: str
) -> None:
    """The whole story; ``page`` shows the widget already, ``console_url`` serves the console."""
    widget = Widget(page)
    await widget.open()
    await widget.send(f"Can I talk to a human, please? [[reply:I have asked a colleague {marker}.]]")
    await widget.reply_done()
    await expect(widget.log.locator('.msg[data-event="handoff"]')).to_be_visible()

    context, console = await Console.open(browser, console_url)
    try:
        await console.sign_in("Sam", token=staff_token(secret, tenant))
        await expect(console.inbox_item(marker)).to_be_visible()  # the inbox refreshes on its own
        await expect(console.inbox_item(marker)).to_contain_text("asked for a human")
        await console.open_from_inbox(marker)
        await expect(console.message("user", "Can I talk to a human")).to_be_visible()

        await console.take_over()
        await expect(widget.log.locator('.msg[data-event="human"]')).to_have_text(
            "Sam from our team has joined the chat."
        )
        before = len(model_requests(simulator_url))

        await widget.send(f"Is the green kettle in stock? visitor-{marker}")
        await expect(console.message("user", f"visitor-{marker}")).to_be_visible()
        await console.say(f"It is, we have three left. staff-{marker}")
        said = widget.messages("human").last
        await expect(said).to_contain_text(f"staff-{marker}")
        await expect(said.locator(".author")).to_have_text("Sam (our team)")
        await widget.send(f"Lovely, can you hold one? visitor2-{marker}")
        await expect(console.message("user", f"visitor2-{marker}")).to_be_visible()
        await console.say(f"Done, it is yours until Friday. staff2-{marker}")
        await expect(widget.messages("human").last).to_contain_text(f"staff2-{marker}")
        await page.screenshot(path=shot("console-widget-human"))
        await console.page.screenshot(path=shot("console-takeover"))
        # the assistant stayed silent: no request reached the provider while Sam held the thread
        assert len(model_requests(simulator_url)) == before
        await expect(widget.messages("assistant")).to_have_count(1)

        await console.hand_back()
        back = widget.log.locator('.msg[data-event="human"]').last
        await expect(back).to_have_text("The assistant is back.")
        await widget.send(f"Thanks! One more question. [[reply:Happy to help {marker}-back.]]")
        await expect(widget.assistant()).to_contain_text(f"{marker}-back")
        await expect(console.message("assistant", f"{marker}-back")).to_be_visible()  # seen live in the console
        body = str(model_requests(simulator_url)[-1]["body"])
        assert f"staff-{marker}" in body and f"visitor2-{marker}" in body and "Sam (staff)" in body

        # after a reload the visitor still sees Sam's messages and the notes, in order
        await page.reload()
        widget = Widget(page)
        await expect(widget.messages("human")).to_have_count(2)
        await expect(widget.messages("human").first.locator(".author")).to_have_text("Sam (our team)")
        await expect(widget.messages("assistant").last).to_contain_text(f"{marker}-back")
        order = await widget.log.locator(".msg").evaluate_all(
            "els => els.map(e => e.getAttribute('data-event') ? 'note:' + e.getAttribute('data-event')"
            " : e.getAttribute('data-role'))"
        )
        assert [kind for kind in order if kind != "greeting"] == [
            "user",  # can I talk to a human?
            "note:handoff",
            "assistant",  # "I have asked a colleague"
            "note:human",  # Sam has joined
            "user",
            "human",
            "user",
            "human",
            "note:human",  # the assistant is back
            "user",
            "assistant",
        ], order
    finally:
        await context.close()


async def test_console_takeover_and_hand_back(page: Page, browser: Browser, site: Site, proxy: Proxy) -> None:
    await site.open(page)
    await takeover_round_trip(
        page,
        browser,
        console_url=proxy.url,
        simulator_url=proxy.simulator.root_url,
        tenant="harbor",
        secret=IDENTITY_SECRET,
        marker="e2e-one-server",
    )


async def test_a_colleague_sees_who_holds_it(page: Page, browser: Browser, site: Site, proxy: Proxy) -> None:
    await site.open(page)
    widget = Widget(page)
    await widget.open()
    await widget.send("I'd like to speak to a person [[reply:Asking colleague-check.]]")
    await widget.reply_done()
    sam_context, sam = await Console.open(browser, proxy.url)
    kim_context, kim = await Console.open(browser, proxy.url)
    try:
        await sam.sign_in("Sam", token=staff_token(IDENTITY_SECRET, "harbor", sub="sam"))
        await kim.sign_in("Kim", token=staff_token(IDENTITY_SECRET, "harbor", sub="kim"))
        await kim.open_from_inbox("colleague-check")
        await sam.open_from_inbox("colleague-check")
        await sam.take_over()
        await expect(kim.holder).to_have_text("Held by Sam")  # live, without reloading
        await expect(kim.page.locator("#take-over")).to_be_disabled()
        await expect(kim.page.locator("#reply-form")).to_be_hidden()
        await expect(kim.inbox_item("colleague-check")).to_contain_text("held by Sam")
        await sam.hand_back()
        await expect(kim.holder).to_have_text("The assistant answers")
    finally:
        await sam_context.close()
        await kim_context.close()
