"""The widget in a real Chromium against the real proxy: what a visitor sees and can do."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from proxy.identity import issue_identity_token
from tests.e2e.conftest import IDENTITY_SECRET, Proxy, Site, shot
from tests.e2e.widget_page import Widget
from tests.support.waiting import eventually


async def test_open_send_and_watch_the_reply_stream_in(page: Page, site: Site) -> None:
    await site.open(page)
    w = Widget(page)
    await expect(w.launcher).to_have_attribute("aria-expanded", "false")
    await w.open()
    await expect(w.launcher).to_have_attribute("aria-expanded", "true")
    await expect(w.host.locator(".title")).to_have_text("Harbor & Pine")
    await expect(w.messages("greeting")).to_contain_text("Harbor & Pine assistant")
    await expect(w.suggestions).to_have_count(2)
    await expect(w.host.locator("img.avatar")).to_have_js_property("complete", True)
    await page.screenshot(path=shot("01-open"))
    await w.record(".announcer", "announced")
    await w.record(".status", "statuses")
    await w.record(".log", "log")

    words = " ".join(f"word{i}" for i in range(1, 21))
    await w.send(f"[[reply:{words}]] [[pace:ttft=100,gap=100]]")
    await expect(w.user().locator(".bubble")).to_have_text(re.compile(r"\[\[reply:word1"))
    reply = w.assistant()
    await expect(reply).to_contain_text("word3")
    await page.screenshot(path=shot("02-streaming"))  # most likely mid-stream; not asserted

    await w.reply_done()
    await expect(reply.locator(".bubble")).to_have_text(words)
    await expect(w.send_button).to_be_visible()
    await expect(w.status).to_be_hidden()
    await expect(w.suggestions.first).to_be_hidden()
    # the text was on screen in parts while the rest was still coming
    replies = [text.rsplit("Assistant: ", 1)[-1] for text in await w.recorded("log")]
    partial = [text for text in replies if text.startswith("word1 word2 word3") and "word20" not in text]
    assert len(partial) >= 3, replies
    assert "The assistant is typing…" in await w.recorded("statuses")
    # the live region said the finished reply once, never the tokens as they came
    await expect(w.announcer).to_contain_text("word20")
    announced = await w.recorded("announced")
    assert announced == [f"The assistant replied: {words}"]


async def test_tool_activity_shows_as_a_status_then_lead_confirmation(page: Page, site: Site) -> None:
    await site.open(page)
    w = Widget(page)
    await w.open()
    await w.record(".status", "statuses")
    await w.send('[[tool:search_products {"query": "pour-over"}]] [[reply:We have **two** drippers.]]')
    await w.wait_for_status("Searching products…")
    await expect(w.status).to_have_attribute("data-tool", "search_products")
    await page.screenshot(path=shot("03-tool-status"))
    reply = await w.reply_done()
    await expect(reply.locator("strong")).to_have_text("two")
    await expect(w.status).to_be_hidden()
    assert "Searching products…" in await w.recorded("statuses")

    # a tenant's own label for a tool, and a tool that captures a lead
    await w.send("[[tool:track_order {}]] [[reply:It ships tomorrow.]]")
    await w.wait_for_status("Looking up your order…")
    await w.reply_done()
    assert "Looking up your order…" in await w.recorded("statuses")
    await w.send('[[tool:save_contact {"email": "ana@example.com"}]] [[reply:Noted.]]')
    await w.reply_done()
    lead = w.log.locator('.msg[data-event="lead"]')
    await expect(lead).to_have_text("Thanks! We have your details and will get back to you.")
    # the product's real handoff tool: its event carries the tenant's message for the visitor
    await w.send('[[tool:escalate_to_human {"reason": "wants a refund"}]] [[reply:Passing you on.]]')
    await w.reply_done()
    handoff = w.log.locator('.msg[data-event="handoff"]')
    await expect(handoff).to_contain_text("I've asked a member of our team to take over.")
    # asked again within the cooldown: the same handoff, so no second note
    await w.send('[[tool:escalate_to_human {"reason": "still waiting"}]] [[reply:Already on it.]]')
    await expect(w.assistant().locator(".bubble")).to_have_text("Already on it.")
    await w.reply_done()
    await expect(handoff).to_have_count(1)


def stalled_streams(proxy: Proxy) -> list[Any]:
    return [entry for entry in proxy.simulator.state.log.entries() if entry.fault == "stall"]


async def test_stop_cancels_the_turn_on_the_server(page: Page, site: Site, proxy: Proxy) -> None:
    await site.open(page)
    w = Widget(page)
    await w.open()
    # three words, then the "model" goes silent until cancelled (heartbeats keep the stream open)
    stalled_before = len(stalled_streams(proxy))
    await w.send("[[reply:Let me think about that for a moment]] [[fault:stall]]")
    reply = w.assistant()
    await expect(reply).to_contain_text("Let me think")
    await expect(reply).to_have_attribute("data-state", "streaming")
    await w.stop_button.click()

    await expect(reply).to_have_attribute("data-state", "stopped")
    await expect(reply.locator(".note")).to_have_text("Stopped.")
    await expect(w.stop_button).to_be_hidden()
    await expect(w.send_button).to_be_visible()
    await expect(w.log.locator(".msg.error")).to_have_count(0)
    await page.screenshot(path=shot("04-stopped"))

    async def provider_stream_closed() -> bool:
        streams = stalled_streams(proxy)
        return len(streams) > stalled_before and streams[-1].outcome is not None

    await eventually(provider_stream_closed)  # the proxy stopped the provider's run too
    # the thread is free again at once
    await w.send("[[reply:Back again.]]")
    await expect((await w.reply_done()).locator(".bubble")).to_have_text("Back again.")


async def test_a_failed_turn_offers_retry(page: Page, site: Site, proxy: Proxy) -> None:
    await site.open(page)
    w = Widget(page)
    await w.open()
    # the next model call fails after a few words (response.failed); the one after succeeds
    proxy.simulator.state.faults.push(["failed"])
    await w.send("[[reply:This works the second time round]]")
    error = w.log.locator(".msg.error")
    await expect(error).to_contain_text("The assistant is not available right now.")
    await expect(error).to_have_attribute("role", "alert")
    await expect(w.assistant()).to_have_attribute("data-state", "incomplete")
    await page.screenshot(path=shot("05-error-retry"))
    await error.get_by_role("button", name="Retry").click()
    await expect(error).to_have_count(0)
    await expect((await w.reply_done()).locator(".bubble")).to_have_text("This works the second time round")
    await expect(w.messages("user")).to_have_count(1)  # Retry does not repeat the visitor's bubble


async def test_reload_restores_the_conversation_and_new_conversation_starts_over(
    page: Page, site: Site, proxy: Proxy
) -> None:
    await site.open(page)
    w = Widget(page)
    await w.open()
    await w.send("[[reply:Our **Harbour Dark Roast** suits a French press.]]")
    await w.reply_done()
    thread_id = await page.evaluate(
        "() => JSON.parse(Object.entries(localStorage).find(([k]) => k.endsWith(':harbor:thread'))[1]).id"
    )

    await page.reload()
    await expect(w.panel).to_be_visible()  # it was open: it opens again, without stealing focus
    await expect(w.user().locator(".bubble")).to_have_text("[[reply:Our **Harbour Dark Roast** suits a French press.]]")
    await expect(w.assistant().locator("strong")).to_have_text("Harbour Dark Roast")
    await expect(w.messages("assistant")).to_have_count(1)
    await expect(w.suggestions.first).to_be_hidden()

    await w.new_button.click()
    await expect(w.messages("user")).to_have_count(0)
    await expect(w.messages("greeting")).to_be_visible()
    await expect(w.suggestions).to_have_count(2)
    await expect(w.announcer).to_have_text("New conversation started.")
    assert (await w.active_element())["tag"] == "textarea"
    stored = await page.evaluate("() => Object.keys(localStorage).filter(k => k.endsWith(':thread'))")
    assert stored == []

    visitor = await page.evaluate("() => Object.entries(localStorage).find(([k]) => k.endsWith(':visitor'))[1]")
    headers = {"Origin": site.url, "X-Visitor-Id": visitor}

    async def deleted_on_server() -> bool:
        async with httpx.AsyncClient(base_url=proxy.url, headers=headers) as http:
            return (await http.get(f"/v1/threads/{thread_id}/messages")).status_code == 404

    await eventually(deleted_on_server)
    await page.reload()
    await expect(w.panel).to_be_visible()
    await expect(w.messages("user")).to_have_count(0)


XSS_REPLY = (
    '<img src=x onerror="window.__xss = 1"> **bold** <script>window.__xss = 2</script> '
    "[click me](javascript:window.__xss=3) [docs](https://example.com/docs) "
    "[sneaky](JaVaScRiPt:window.__xss=4) <a href=javascript:window.__xss=5>raw</a>"
)


async def test_html_in_replies_and_in_visitor_messages_stays_inert(page: Page, site: Site) -> None:
    await site.open(page)
    w = Widget(page)
    await w.open()
    await w.send(f"[[reply:{XSS_REPLY}]]")
    reply = await w.reply_done()
    bubble = reply.locator(".bubble")
    await expect(bubble).to_contain_text('<img src=x onerror="window.__xss = 1">')
    await expect(bubble).to_contain_text("<script>window.__xss = 2</script>")
    await expect(bubble.locator("strong")).to_have_text("bold")
    await expect(bubble.locator("img, script, iframe")).to_have_count(0)
    links = bubble.locator("a")
    await expect(links).to_have_count(1)  # only the https one survives as a link
    await expect(links).to_have_attribute("href", "https://example.com/docs")
    await expect(links).to_have_attribute("rel", "noopener noreferrer")
    await expect(links).to_have_attribute("target", "_blank")
    await expect(bubble).to_contain_text("click me")  # the text of a dropped link stays

    visitor_payload = '<img src=x onerror="window.__xss = 6"><b>hi</b> **not markdown**'
    await w.send(visitor_payload)
    await w.reply_done()
    mine = w.user().locator(".bubble")
    await expect(mine).to_have_text(visitor_payload)
    await expect(mine.locator("*")).to_have_count(0)
    await expect(w.assistant().locator("img")).to_have_count(0)  # the echo is inert too
    assert await page.evaluate("() => window.__xss") is None
    await page.screenshot(path=shot("06-xss-inert"))


async def test_keyboard_only(page: Page, site: Site) -> None:
    await site.open(page)
    w = Widget(page)
    await expect(w.launcher).to_be_visible()
    await page.keyboard.press("Tab")
    focused = await w.active_element()
    assert focused["inWidget"] and "launcher" in focused["cls"]
    outline = await w.launcher.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none"  # focus is visible

    await page.keyboard.press("Enter")
    await expect(w.panel).to_be_visible()
    assert (await w.active_element())["tag"] == "textarea"  # focus moved into the panel
    await page.keyboard.type("[[reply:Typed with keys only.]]")
    await page.keyboard.press("Enter")
    await expect((await w.reply_done()).locator(".bubble")).to_have_text("Typed with keys only.")
    assert (await w.active_element())["tag"] == "textarea"

    # Shift+Enter is a new line, not a send
    await page.keyboard.type("line one")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("line two")
    await expect(w.input).to_have_value("line one\nline two")
    await w.input.fill("")

    # backwards: the conversation log (scrollable, so focusable), then the header's buttons
    await page.keyboard.press("Shift+Tab")
    assert "log" in (await w.active_element())["cls"]
    await page.keyboard.press("Shift+Tab")
    assert "close" in (await w.active_element())["cls"]
    await page.keyboard.press("Shift+Tab")
    focused = await w.active_element()
    assert "new" in focused["cls"], focused
    await page.keyboard.press("Enter")
    await expect(w.suggestions).to_have_count(2)
    assert (await w.active_element())["tag"] == "textarea"
    await page.keyboard.press("Shift+Tab")
    assert "chip" in (await w.active_element())["cls"]
    await page.keyboard.press("Enter")  # a suggested question is sent
    await expect(w.user().locator(".bubble")).to_have_text("Do you ship to Norway?")
    await w.reply_done()

    await page.keyboard.press("Escape")
    await expect(w.panel).to_be_hidden()
    focused = await w.active_element()
    assert focused["inWidget"] and "launcher" in focused["cls"]  # focus returns to the launcher


async def test_right_to_left_layout(page: Page, site: Site) -> None:
    await site.open(page, locale="ar", position="left", open="true")
    w = Widget(page)
    await expect(w.panel).to_be_visible()  # data-open: open on load (focus stays with the page)
    assert not (await w.active_element())["inWidget"]
    await w.settled()
    launcher = await w.launcher.bounding_box()
    assert launcher and launcher["x"] < 100  # data-position="left"
    await expect(w.root).to_have_attribute("dir", "rtl")
    await expect(w.root).to_have_attribute("lang", "ar")
    await expect(w.input).to_have_attribute("placeholder", "اكتب رسالتك…")
    await w.send("[[reply:مرحبًا! كيف يمكنني مساعدتك اليوم؟]]")
    await w.reply_done()
    await expect(w.send_button).to_have_attribute("aria-label", "إرسال")

    user = await w.user().bounding_box()
    reply = await w.assistant().bounding_box()
    log = await w.log.bounding_box()
    field = await w.input.bounding_box()
    send = await w.send_button.bounding_box()
    assert user and reply and log and field and send
    # mirrored: the visitor's bubbles hug the left edge, the assistant's the right; Send sits left
    assert user["x"] - log["x"] < 30
    assert (log["x"] + log["width"]) - (reply["x"] + reply["width"]) < 30
    assert send["x"] + send["width"] <= field["x"]
    await page.screenshot(path=shot("07-rtl-arabic"))


@pytest.fixture
def phone(browser: Browser) -> dict[str, Any]:
    return {"viewport": {"width": 390, "height": 780}, "is_mobile": True, "has_touch": True, "locale": "en-US"}


async def test_mobile_layout_is_full_screen(browser: Browser, site: Site, phone: dict[str, Any]) -> None:
    context = await browser.new_context(**phone)
    try:
        page = await context.new_page()
        await site.open(page)
        w = Widget(page)
        await w.open()
        box = await w.panel.bounding_box()
        assert box and {k: round(v) for k, v in box.items()} == {"x": 0, "y": 0, "width": 390, "height": 780}
        await expect(w.launcher).to_be_hidden()
        await w.send("[[reply:Here is a list:\n\n- Dark roast\n- Filter blend]]")
        reply = await w.reply_done()
        await expect(reply.locator("li")).to_have_count(2)
        await page.screenshot(path=shot("08-mobile"))
        await w.host.locator("button.close").click()
        await expect(w.launcher).to_be_visible()
    finally:
        await context.close()


async def test_reduced_motion_is_respected(page: Page, site: Site) -> None:
    await page.emulate_media(reduced_motion="reduce")
    await site.open(page)
    w = Widget(page)
    await w.open()
    animation = await w.panel.evaluate("el => getComputedStyle(el).animationName")
    assert animation == "none"


async def test_a_thread_the_server_no_longer_knows_is_replaced(page: Page, site: Site) -> None:
    await site.open(page)
    w = Widget(page)
    await expect(w.launcher).to_be_visible()
    await page.evaluate(
        """() => {
          const visitor = Object.keys(localStorage).find(k => k.endsWith(":visitor"));
          const key = visitor.replace(/:visitor$/, ":harbor:thread");
          localStorage.setItem(key, JSON.stringify({id: "thr_gone", idf: ""}));
        }"""
    )
    await page.reload()
    await w.open()  # the history request answers 404: the stored id is dropped, nothing is shown
    await expect(w.messages("greeting")).to_be_visible()
    await w.send("[[reply:A fresh start.]]")
    await expect((await w.reply_done()).locator(".bubble")).to_have_text("A fresh start.")
    await expect(w.log.locator(".msg.error")).to_have_count(0)


async def test_a_new_token_for_the_same_person_keeps_the_conversation(page: Page, site: Site) -> None:
    """Host sites mint a token per page view: the next page's token is another string, the same person."""
    first = issue_identity_token(secret=IDENTITY_SECRET, tenant="harbor", sub="ana", now=time.time() - 60)
    await site.open(page, identity_token=first)
    w = Widget(page)
    await w.open()
    await w.send("[[reply:Hello Ana.]]")
    await w.reply_done()
    second = issue_identity_token(secret=IDENTITY_SECRET, tenant="harbor", sub="ana")
    assert second != first
    await site.open(page, identity_token=second)
    await expect(w.panel).to_be_visible()
    await expect(w.messages("user").locator(".bubble")).to_have_text(["[[reply:Hello Ana.]]"])
    await expect(w.assistant().locator(".bubble")).to_have_text("Hello Ana.")


async def test_a_page_sets_its_own_suggested_questions(page: Page, site: Site) -> None:
    await site.open(page, suggested_questions='["Where is my order?", "  ", 42, "Do you ship to Oslo?"]')
    w = Widget(page)
    await w.open()
    await expect(w.suggestions).to_have_text(["Where is my order?", "Do you ship to Oslo?"])  # not the tenant's
    await page.evaluate("() => AssistantProxy.suggest(['Opening hours?'])")
    await expect(w.suggestions).to_have_text(["Opening hours?"])
    await page.evaluate("() => AssistantProxy.suggest(null)")  # back to the tenant's
    await expect(w.suggestions).to_have_text(["Which roast suits a pour-over?", "Do you ship to Norway?"])
    await w.send("[[reply:Sure.]]")
    await w.reply_done()
    await page.evaluate("() => AssistantProxy.suggest(['Opening hours?'])")
    await expect(w.suggestions.first).to_be_hidden()  # only an empty conversation shows them


async def test_identity_tokens_keep_visitors_apart(page: Page, site: Site) -> None:
    ana = issue_identity_token(secret=IDENTITY_SECRET, tenant="harbor", sub="ana", email="ana@example.com")
    bob = issue_identity_token(secret=IDENTITY_SECRET, tenant="harbor", sub="bob")
    await site.open(page, identity_token=ana)
    w = Widget(page)
    await w.open()
    await w.send("[[reply:Hello Ana.]]")
    await w.reply_done()
    # another person signs in on this page: the conversation is not theirs to see or continue
    await page.evaluate("token => AssistantProxy.identify(token)", bob)
    await expect(w.messages("user")).to_have_count(0)
    async with page.expect_request(lambda r: r.url.endswith("/v1/threads") and r.method == "POST") as created:
        await w.send("[[reply:Hello Bob.]]")
    request = await created.value
    assert request.headers.get("x-identity-token") == bob  # a new thread, created as Bob ...
    assert "[[reply:Hello Bob.]]" in (request.post_data or "")  # ... by his first message
    await w.reply_done()

    # back on the page as Ana (the token comes with the page): Bob's thread is not restored
    await site.open(page, identity_token=ana)
    await expect(w.panel).to_be_visible()  # it was open in this tab, so it opens again
    await expect(w.messages("greeting")).to_be_visible()
    assert await page.evaluate("() => Object.keys(localStorage).filter(k => k.endsWith(':thread'))") == []
    await expect(w.messages("user")).to_have_count(0)


async def test_rate_limited_messages_say_how_long_to_wait(page: Page, site: Site) -> None:
    await site.open(page, host="localhost")  # the limited tenant: one message a minute per visitor
    w = Widget(page)
    await w.open()
    await w.send("Hello")
    await w.reply_done()
    await w.send("Hello again")
    error = w.log.locator(".msg.error")
    await expect(error).to_contain_text(re.compile(r"Too many messages\. Please wait \d+ s and try again\."))
    await expect(error.get_by_role("button", name="Retry")).to_be_visible()
    await expect(w.send_button).to_be_visible()


async def test_an_overloaded_server_is_asked_again_once_then_offers_retry(page: Page, site: Site) -> None:
    """503 overloaded with Retry-After: the widget resends by itself once, then shows Retry."""
    await site.open(page)
    w = Widget(page)
    await w.open()
    posts: list[str] = []
    refuse = {"left": 0}

    async def busy_worker(route: Any) -> None:
        if route.request.method != "POST":
            await route.continue_()
            return
        posts.append(route.request.post_data or "")
        if refuse["left"] > 0:
            refuse["left"] -= 1
            body = {"error": {"code": "overloaded", "message": "busy", "reason": "loop_lag", "retry_after": 1}}
            await route.fulfill(status=503, headers={"Retry-After": "1"}, json=body)
        else:
            await route.continue_()

    await page.route("**/v1/threads", busy_worker)  # the first message starts the conversation
    await page.route("**/v1/threads/*/messages", busy_worker)

    refuse["left"] = 1  # refused once: the visitor only sees the reply, a moment later
    await w.send("[[reply:Made it on the second try.]]")
    await expect((await w.reply_done()).locator(".bubble")).to_have_text("Made it on the second try.")
    await expect(w.log.locator(".msg.error")).to_have_count(0)
    assert len(posts) == 2
    await expect(w.messages("user")).to_have_count(1)

    refuse["left"] = 2  # refused again after the automatic retry: an error the visitor can retry
    await w.send("[[reply:And with a click.]]")
    error = w.log.locator(".msg.error")
    await expect(error).to_contain_text("The assistant is not available right now.")
    assert len(posts) == 4  # the automatic retry happens once, not again and again
    await error.get_by_role("button", name="Retry").click()
    await expect((await w.reply_done()).locator(".bubble")).to_have_text("And with a click.")
    await expect(w.messages("user")).to_have_count(2)
    assert len(posts) == 5


async def test_a_dropped_stream_resumes_where_it_stopped(page: Page, site: Site) -> None:
    """The connection breaks mid-reply: the widget asks for the rest with the last event id it saw."""
    await site.open(page)
    w = Widget(page)
    await w.open()

    last_kept: list[str] = []

    async def cut_short(route: Any) -> None:
        if route.request.method != "POST":
            await route.continue_()
            return
        response = await route.fetch()
        body = await response.body()
        blank = b"\r\n\r\n" if b"\r\n\r\n" in body else b"\n\n"
        frames = [frame for frame in body.split(blank) if not frame.startswith(b":")]  # no pings
        deltas = [i for i, frame in enumerate(frames) if b"event: message.delta" in frame]
        keep = frames[: deltas[-2] + 1]  # run.started and all the deltas but the last arrive ...
        torn = frames[deltas[-1]][:20]  # ... then half a frame, and the connection is gone
        ids = [line[4:] for line in keep[-1].decode().splitlines() if line.startswith("id: ")]
        last_kept.extend(ids)
        await route.fulfill(response=response, body=blank.join(keep) + blank + torn)

    await page.route("**/v1/threads", cut_short)  # the first message starts the conversation
    words = " ".join(f"part{i}" for i in range(1, 13))
    async with page.expect_request(lambda r: "/events?last_event_id=" in r.url) as resumed:
        # paced, so that the reply comes in several deltas (a provider read's tokens are one)
        await w.send(f"[[pace:gap=50]] [[reply:{words}]]")
    assert len(last_kept) == 1 and (await resumed.value).url.endswith(quote(last_kept[0], safe=""))
    reply = await w.reply_done()
    await expect(reply.locator(".bubble")).to_have_text(words)  # nothing lost, nothing twice
    await expect(w.log.locator(".msg.error")).to_have_count(0)
