"""The demo's three pages in a real Chromium: the demo tenant as ``python -m proxy demo`` writes it,
the full demo shop in Postgres, the simulator as the provider (no key), the proxy's own pages.

What each page's suggested questions must be answered with is computed here, in SQL, from the
shop's tables: never from the proxy's tools. Without a provider key the simulator's offline model
answers them.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from proxy.app import create_app
from proxy.demo import DEMO_TENANTS
from proxy.demo_files import ensure_secrets, write_tenants_file
from proxy.limits.config import LimitsConfig
from proxy.mail.settings import MailSettings
from proxy.simulator import ServerThread, SimulatorServer
from proxy.store.db import Database
from proxy.tenants import TenantDirectory, load_tenants
from proxy.widget.demo_facts import DEMO_CUSTOMER_ID
from proxy.widget.demo_pages import ACCOUNT_QUESTIONS, SHOP_QUESTIONS, STAFF_QUESTIONS
from tests.e2e.conftest import ROOT, shot
from tests.e2e.widget_page import Widget
from tests.support.apps import NO_LIMITS, make_settings
from tests.support.demo_shop import DemoShop

TENANT = "demo"
PAGES = {"/demo": SHOP_QUESTIONS, "/demo/account": ACCOUNT_QUESTIONS, "/demo/staff": STAFF_QUESTIONS}
# a bubble showing a tool's raw output or a simulator directive instead of words
RAW = re.compile(r'\[\[|[{\[]\s*"[^"]*"\s*[:,\]]|"\w+"\s*:\s*["{\[\d]')
REFUSAL = re.compile(r"not allowed|sign(?:ed)? in|log(?:ged)? in", re.IGNORECASE)


@dataclass
class Demo:
    server: ServerThread
    db: Database

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="session")
def demo_shop(demo_shop_seed: DemoShop, database: Database) -> Database:
    """The full demo shop, as ``demo`` loads it (once per test run: ``tests/conftest.py``)."""
    assert demo_shop_seed.tenant == TENANT
    return database


def demo_tenants(data_dir: Path, simulator_url: str) -> TenantDirectory:
    """The tenant ``demo`` writes, resolved the way ``demo`` resolves it; no rate limits (one test address)."""
    tenants_file = write_tenants_file(data_dir, DEMO_TENANTS)
    settings = make_settings("unused", data_dir, tenants_file=tenants_file, simulator_url=simulator_url)
    tenants = load_tenants(settings, env=ensure_secrets(data_dir))
    return TenantDirectory(
        dataclasses.replace(t, config=t.config.model_copy(update={"limits": LimitsConfig(**NO_LIMITS)}))
        for t in tenants
    )


@pytest.fixture(scope="session")
def demo(
    pg_url: str, demo_shop: Database, simulator: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    data_dir = tmp_path_factory.mktemp("demo")
    settings = make_settings(pg_url, data_dir, simulator_url=simulator.base_url, heartbeat_interval=0.5)
    app = create_app(
        settings, tenants=demo_tenants(data_dir, simulator.base_url), mail_settings=MailSettings(_env_file=None)
    )
    with ServerThread(app) as running:
        yield Demo(running, demo_shop)


# -- the pages as HTML -------------------------------------------------------------------------


class Cards(HTMLParser):
    """The names and prices on the shop page's best-seller cards."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict[str, str]] = []
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = dict(attrs).get("class") or ""
        if tag == "article" and "card" in classes:
            self.cards.append({})
        elif self.cards and (tag == "h3" or "price" in classes):
            self._field = "name" if tag == "h3" else "price"

    def handle_data(self, data: str) -> None:
        if self._field:
            self.cards[-1][self._field] = data.strip()
            self._field = None


def money(cents: int) -> list[str]:
    """How an amount may be written: 1234.50 or 1,234.50."""
    value = Decimal(cents).scaleb(-2)
    return [f"{value:.2f}", f"{value:,.2f}"]


async def test_best_sellers_on_the_shop_page_are_the_shops_best_sellers(demo: Demo) -> None:
    top = await demo.db.fetch_all(
        "select p.name, sum(l.quantity) as units, (select unit_amount from shop_prices pr where pr.tenant = p.tenant"
        " and pr.product_id = p.id and pr.currency = 'eur') as eur"
        " from shop_invoice_lines l join shop_invoices i on i.tenant = l.tenant and i.id = l.invoice_id"
        " join shop_products p on p.tenant = l.tenant and p.id = l.product_id"
        " where l.tenant = %s and i.status = 'paid' group by p.tenant, p.id, p.name order by units desc, p.id limit 4",
        (TENANT,),
    )
    page = httpx.get(f"{demo.url}/demo")
    parser = Cards()
    parser.feed(page.text)
    assert parser.cards == [{"name": r["name"], "price": f"{money(r['eur'])[0]} EUR"} for r in top]
    assert f"{top[0]['units']:,} sold" in page.text


async def test_the_pages_link_to_each_other_and_say_who_answers(demo: Demo) -> None:
    for path in PAGES:
        text = httpx.get(demo.url + path).text
        for other in PAGES:
            assert f'href="{other}"' in text
        assert "local offline model" in text and "routes your words" in text and "from templates" in text
    account = httpx.get(f"{demo.url}/demo/account")
    assert account.headers["cache-control"] == "no-store"
    assert "data-identity-token=" in account.text and "Anna Hall" in account.text


# -- the pages in the browser ------------------------------------------------------------------


async def open_page(page: Page, demo: Demo, path: str) -> Widget:
    await page.goto(demo.url + path)
    w = Widget(page)
    await page.locator("#ask").click()  # the page's own button calls AssistantProxy.open()
    await expect(w.panel).to_be_visible()
    await w.settled()
    return w


async def ask(w: Widget, question: str) -> str:
    """Click the suggestion ``question`` and return the finished reply's text."""
    replies = await w.messages("assistant").count()
    await w.suggestions.filter(has_text=question).click()
    await expect(w.messages("assistant")).to_have_count(replies + 1)
    reply = await w.reply_done()
    return await reply.locator(".bubble").inner_text()


async def no_raw_output(w: Widget) -> None:
    for text in await w.log.locator(".bubble").all_inner_texts():
        assert not RAW.search(text), f"raw output or a directive in a bubble: {text!r}"


async def thread_of(demo: Demo, thread_id: str) -> dict[str, Any]:
    row = await demo.db.fetch_one(
        "select visitor_kind, visitor_email from threads where id = %s and tenant = %s", (thread_id, TENANT)
    )
    assert row is not None
    return row


@pytest.mark.parametrize("path", list(PAGES))
async def test_every_suggested_question_is_shown_and_answered(page: Page, demo: Demo, path: str) -> None:
    w = await open_page(page, demo, path)
    questions = PAGES[path]
    await expect(w.suggestions).to_have_text(questions)
    for i, question in enumerate(questions):
        if i:
            await w.new_button.click()  # a new conversation shows the suggestions again
            await expect(w.suggestions).to_have_text(questions)
        async with page.expect_response(lambda r: r.url.endswith("/v1/threads") and r.request.method == "POST") as made:
            reply = await ask(w, question)
        assert reply.strip(), question
        started = await made.value  # the first message started the conversation: its stream names the thread
        visitor = await thread_of(demo, (await started.header_value("location") or "").rsplit("/", 1)[-1])
        if path == "/demo/account":  # signed in: the page's token made the thread the customer's
            assert visitor == {"visitor_kind": "identified", "visitor_email": "anna.hall@example.com"}
            assert not REFUSAL.search(reply), reply
        elif path == "/demo/staff":
            assert visitor["visitor_kind"] == "staff"
            assert not REFUSAL.search(reply), reply
        else:
            assert visitor["visitor_kind"] == "anonymous"
        if question == "Can I talk to a person?":
            await expect(w.log.locator('.msg[data-event="handoff"]')).to_have_count(1)
    if path == "/demo":
        # the shop styles every button (serif, uppercase, square): the widget's buttons are untouched
        styles = await w.host.locator(".new").evaluate(
            "el => { const s = getComputedStyle(el); return [s.textTransform, s.fontFamily, s.borderRadius]; }"
        )
        assert styles[0] == "none" and "Georgia" not in styles[1] and styles[2] != "0px"


async def test_lead_and_handoff_notes_are_kept_across_a_reload(page: Page, demo: Demo) -> None:
    w = await open_page(page, demo, "/demo")
    await ask(w, "Can I talk to a person?")
    await expect(w.log.locator('.msg[data-event="handoff"]')).to_have_count(1)
    lead = '{"name": "Ana Lima", "email": "ana.lima@example.com", "message": "Please call me about tents"}'
    await w.send(f"[[tool:capture_lead {lead}]] [[reply:Thanks, Ana.]]")
    await expect(w.messages("assistant")).to_have_count(2)
    await w.reply_done()
    await expect(w.log.locator('.msg[data-event="lead"]')).to_have_count(1)
    shown = "log => [...log.querySelectorAll('.msg')].map(m => [m.dataset.role, m.dataset.event || '', m.textContent])"
    before = await w.log.evaluate(shown)

    await page.reload()
    await expect(w.panel).to_be_visible()  # it was open, so it opens again with the history
    await expect(w.messages("user")).to_have_count(2)
    await expect(w.log.locator('.msg[data-event="handoff"]')).to_have_count(1)
    await expect(w.log.locator('.msg[data-event="lead"]')).to_have_count(1)
    assert await w.log.evaluate(shown) == before  # the same notes, each where it was

    await w.new_button.click()  # a new conversation forgets them
    await page.reload()
    await expect(w.panel).to_be_visible()
    await expect(w.log.locator(".msg.system")).to_have_count(0)


# -- what the answers must say (SQL truths; needs the offline model) ---------------------------


async def price_of_cheapest(db: Database, pattern: str, currency: str) -> dict[str, Any]:
    row = await db.fetch_one(
        "select p.name, pr.unit_amount from shop_products p join shop_prices pr on pr.tenant = p.tenant"
        " and pr.product_id = p.id where p.tenant = %s and p.active and not p.deleted and pr.active"
        " and pr.currency = %s and p.name ~* %s order by pr.unit_amount, p.id limit 1",
        (TENANT, currency, pattern),
    )
    assert row is not None
    return row


async def main_currency(db: Database) -> str:
    row = await db.fetch_one(
        "select currency from shop_invoices where tenant = %s and status = 'paid' group by 1"
        " order by count(*) desc, 1 limit 1",
        (TENANT,),
    )
    assert row is not None
    return str(row["currency"])


def says(reply: str, *facts: str) -> None:
    missing = [fact for fact in facts if fact.lower() not in reply.lower()]
    assert not missing, f"the reply leaves out {missing}: {reply!r}"


def says_one_of(reply: str, options: list[str]) -> None:
    assert any(option.lower() in reply.lower() for option in options), f"none of {options} in {reply!r}"


async def handoff(db: Database, reply: str) -> None:
    """No figure to check: the reply is words (checked for every question) and the note is shown."""


async def jacket(db: Database, reply: str) -> None:
    cheapest = await price_of_cheapest(db, r"waterproof.*jacket", "eur")
    assert cheapest["unit_amount"] > 15000  # so the true answer is "no, the cheapest is ..."
    says_one_of(reply, money(cheapest["unit_amount"]))


async def headphones(db: Database, reply: str) -> None:
    # products named as both words: none under $100, so the answer says no and names the cheapest
    cheapest = await price_of_cheapest(db, r"wireless.*headphones", "usd")
    assert cheapest["unit_amount"] > 10000  # none under $100
    says_one_of(reply, money(cheapest["unit_amount"]))


async def tents(db: Database, reply: str) -> None:
    rows = await db.fetch_all(
        "select name from shop_products where tenant = %s and active and not deleted and name ~* '\\mtents?\\M'",
        (TENANT,),
    )
    assert rows
    says(reply, *(r["name"] for r in rows))


async def last_order(db: Database, reply: str) -> None:
    row = await db.fetch_one(
        "select number from shop_invoices where tenant = %s and customer_id = %s order by created desc limit 1",
        (TENANT, DEMO_CUSTOMER_ID),
    )
    assert row is not None
    says(reply, row["number"])


async def bought_in_march(db: Database, reply: str) -> None:
    rows = await db.fetch_all(
        "select distinct coalesce(p.name, l.description) as name from shop_invoice_lines l"
        " join shop_invoices i on i.tenant = l.tenant and i.id = l.invoice_id"
        " left join shop_products p on p.tenant = l.tenant and p.id = l.product_id"
        " where l.tenant = %s and i.customer_id = %s and i.status <> 'void'"
        " and i.created >= '2026-03-01' and i.created < '2026-04-01'",
        (TENANT, DEMO_CUSTOMER_ID),
    )
    assert rows
    says(reply, *(r["name"] for r in rows))


PAID_LINES = (
    "from shop_invoice_lines l join shop_invoices i on i.tenant = l.tenant and i.id = l.invoice_id"
    " join shop_products p on p.tenant = l.tenant and p.id = l.product_id where l.tenant = %s and i.status = 'paid'"
)


async def most_popular(db: Database, reply: str) -> None:
    row = await db.fetch_one(
        f"select p.name, sum(l.quantity) as units {PAID_LINES} group by p.id, p.name order by units desc, p.id limit 1",
        (TENANT,),
    )
    assert row is not None
    says(reply, row["name"])


async def cheapest_purchase(db: Database, reply: str) -> None:
    currency = await main_currency(db)
    tied = await db.fetch_all(
        "select c.name as buyer, l.description as product, i.total from shop_invoices i"
        " join shop_customers c on c.tenant = i.tenant and c.id = i.customer_id"
        " join shop_invoice_lines l on l.tenant = i.tenant and l.invoice_id = i.id"
        " where i.tenant = %s and i.status = 'paid' and i.currency = %s and i.total = (select min(total)"
        " from shop_invoices where tenant = %s and status = 'paid' and currency = %s and total > 0)",
        (TENANT, currency, TENANT, currency),
    )
    assert tied
    says_one_of(reply, money(tied[0]["total"]))
    says_one_of(reply, [r["buyer"] for r in tied])
    says_one_of(reply, [r["product"] for r in tied])


async def bought_together(db: Database, reply: str) -> None:
    pairs = await db.fetch_all(
        "with ops as (select distinct l.invoice_id, l.product_id, p.name " + PAID_LINES + ")"
        " select a.name as a, b.name as b, count(*) as n from ops a join ops b"
        " on a.invoice_id = b.invoice_id and a.product_id < b.product_id group by 1, 2 order by 3 desc limit 20",
        (TENANT,),
    )
    top = [p for p in pairs if p["n"] == pairs[0]["n"]]
    assert any(p["a"].lower() in reply.lower() and p["b"].lower() in reply.lower() for p in top), (top, reply)


async def revenue_in_march(db: Database, reply: str) -> None:
    currency = await main_currency(db)
    row = await db.fetch_one(
        "select sum(total) as revenue from shop_invoices where tenant = %s and status = 'paid' and currency = %s"
        " and created >= '2026-03-01' and created < '2026-04-01'",
        (TENANT, currency),
    )
    assert row is not None and row["revenue"]
    says_one_of(reply, money(int(row["revenue"])))


async def top_customers(db: Database, reply: str) -> None:
    currency = await main_currency(db)
    row = await db.fetch_one(
        "select c.name from shop_invoices i join shop_customers c on c.tenant = i.tenant and c.id = i.customer_id"
        " where i.tenant = %s and i.status = 'paid' and i.currency = %s group by c.id, c.name"
        " order by sum(i.total) desc, c.id limit 1",
        (TENANT, currency),
    )
    assert row is not None
    says(reply, row["name"])


Truth = Callable[[Database, str], Awaitable[None]]
TRUTHS: list[tuple[str, str, Truth]] = [
    ("/demo", "Do you have a waterproof jacket under 150 EUR?", jacket),
    ("/demo", "Wireless headphones under $100?", headphones),
    ("/demo", "What tents do you have?", tents),
    ("/demo", "Can I talk to a person?", handoff),
    ("/demo/account", "Where is my last order?", last_order),
    ("/demo/account", "What did I buy in March?", bought_in_march),
    ("/demo/staff", "What are the most popular products sold?", most_popular),
    ("/demo/staff", "Who made the cheapest purchase, and what did they buy?", cheapest_purchase),
    ("/demo/staff", "Which products are bought together?", bought_together),
    ("/demo/staff", "What was the revenue in March?", revenue_in_march),
    ("/demo/staff", "Who are our top customers?", top_customers),
]


@pytest.mark.parametrize(
    ("path", "question", "truth"),
    [pytest.param(*t, id=t[2].__name__) for t in TRUTHS],
)
async def test_the_answer_is_the_fact_in_the_shops_data(
    page: Page, demo: Demo, path: str, question: str, truth: Truth
) -> None:
    w = await open_page(page, demo, path)
    reply = await ask(w, question)
    await no_raw_output(w)  # no tool output, JSON or directive in any bubble
    await truth(demo.db, reply)
    await page.screenshot(path=shot(f"demo-{truth.__name__}"))
    if truth is jacket and os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        # README's picture: the real demo answering a real question, and only with the true answer
        await page.screenshot(path=str(ROOT / "docs" / "widget.png"))
