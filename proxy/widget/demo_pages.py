"""``GET /demo``, ``/demo/account`` and ``/demo/staff``: one demo shop as three visitors see it.

- the shop page: an anonymous visitor (the catalogue, leads, a handoff to a person);
- "My account": a signed-in customer; the page carries an identity token minted per page view with
  the tenant's identity secret, exactly as a shop's own site does for its signed-in users;
- the staff page: a staff identity token, so the assistant may answer with shop-wide figures.

Each page sets its own suggested questions on the script tag. Whatever a page shows about the shop
(best sellers, orders, figures) is read from the shop's data when the page is requested. The
tenant is the one serving the request's host, the same one the widget on the page will talk to,
and only if its shop is the demo shop (``shop.source = "demo"``): these routes are served on every
deployment and the Host header is the caller's to choose, so a real shop's figures are never shown
and no token is ever signed with a real shop's identity secret.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from functools import lru_cache, partial
from html import escape
from string import Template
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from litestar import Request, Response, get

from proxy.identity import issue_identity_token
from proxy.shop.source import ShopData, ShopDataError, shop_data
from proxy.tenants import Tenant, normalize_host
from proxy.widget.bundle import WIDGET_DIR
from proxy.widget.demo_facts import (
    DEMO_CUSTOMER_ID,
    STAFF_USER,
    Customer,
    ShopFacts,
    StaffFacts,
    customer_facts,
    shop_facts,
    staff_facts,
)

if TYPE_CHECKING:
    from datetime import datetime

    from proxy.services import Services
    from proxy.store.db import Database

logger = logging.getLogger(__name__)
T = TypeVar("T")

SHOP_QUESTIONS = [
    "Do you have a waterproof jacket under 150 EUR?",
    "Wireless headphones under $100?",
    "What tents do you have?",
    "Can I talk to a person?",
]
ACCOUNT_QUESTIONS = ["Where is my last order?", "What did I buy in March?"]
STAFF_QUESTIONS = [
    "What are the most popular products sold?",
    "Who made the cheapest purchase, and what did they buy?",
    "Which products are bought together?",
    "What was the revenue in March?",
    "Who are our top customers?",
]
PAGES = ("shop", "account", "staff")
TOKEN_TTL = 3600  # seconds; a new token comes with every page view
SWATCHES = {
    "Outdoor": "#1f4e5a",
    "Coffee & Tea": "#6b4a2f",
    "Kitchen": "#8c6a43",
    "Audio": "#3b3f3f",
    "Fitness": "#2f6b4f",
    "Personal Care": "#7a5c6e",
}
NOT_LOADED = "The shop's data is not available here{why}. With `python -m proxy demo` it is loaded on the first run."


@lru_cache(maxsize=8)
def _template(name: str) -> Template:
    return Template((WIDGET_DIR / "demo" / name).read_text(encoding="utf-8"))


def _day(value: datetime | None) -> str:
    return value.date().isoformat() if value else "–"


def _caller(request: Request[Any, Any, Any]) -> tuple[Services | None, Tenant | None]:
    """The running app's services and the demo tenant of the page's host, if there is one."""
    services: Services | None = getattr(request.app.state, "services", None)  # None in a bare test app
    host = normalize_host(request.headers.get("host", ""))
    tenant = services.tenants.by_host(host) if services is not None and host else None
    if tenant is not None and tenant.config.shop.source != "demo":
        return services, None  # a real shop: nothing of its data, no token signed with its secret
    return services, tenant


def _answers(services: Services | None, tenant: Tenant | None) -> str:
    """The footer's honest line about who writes the answers."""
    simulator = services.settings.simulator_url if services is not None else None
    if tenant is not None and simulator and tenant.base_url == simulator:
        return (
            "Without a provider key, the answers come from a local offline model: it routes your words to the"
            " shop's tools by matching them, and writes the reply from templates. Set <code>OPENAI_API_KEY</code>"
            " (or a tenant's provider) for a real language model. The facts come from the shop's data either way."
        )
    model = escape(tenant.config.model) if tenant is not None else "the tenant's model"
    return f"Answers come from {model} through the tenant's provider, with facts from the shop's data."


def _render(
    request: Request[Any, Any, Any],
    *,
    title: str,
    current: str,
    who: str,
    body: str,
    questions: list[str],
    token: str | None,
    private: bool,
) -> Response[bytes]:
    services, tenant = _caller(request)
    attributes = f'data-suggested-questions="{escape(json.dumps(questions))}"'
    if token:
        attributes += f' data-identity-token="{escape(token)}"'
    page = _template("layout.html").substitute(
        title=escape(title),
        who=who,
        body=body,
        answers=_answers(services, tenant),
        script_attributes=attributes,
        **{f"current_{name}": 'aria-current="page"' if name == current else "" for name in PAGES},
    )
    return Response(
        page.encode("utf-8"),
        media_type="text/html",
        headers={
            # the account and staff pages carry an identity token: never cached, never shared
            "Cache-Control": "no-store" if private else "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _notice(text: str) -> str:
    return f'    <p class="notice" role="note">{escape(text)}</p>'


async def _read(
    services: Services | None, tenant: Tenant | None, read: Callable[[Database, ShopData], Awaitable[T]]
) -> tuple[T | None, str]:
    """Run ``read(db, data)``; on failure return None and the notice to show instead."""
    if services is None or tenant is None:
        return None, _notice(NOT_LOADED.format(why=" (no tenant with the demo shop serves this host)"))
    try:
        return await read(services.db, shop_data(tenant.name, tenant.config.shop)), ""
    except (psycopg.Error, ShopDataError) as exc:
        logger.warning("demo page: cannot read the shop's data: %s", exc)
        return None, _notice(NOT_LOADED.format(why=""))


def _cards(facts: ShopFacts) -> str:
    cards = []
    for p in facts.best_sellers:
        colour = SWATCHES.get(p.category or "", "#4d6b73")
        cards.append(
            f'      <article class="card" data-product-id="{escape(p.id)}">'
            f'<div class="swatch" style="background:{colour}"></div>'
            f"<h3>{escape(p.name)}</h3><p>{escape(p.description)}</p>"
            f'<p class="price">{escape(p.price or "")}</p>'
            f'<p class="meta">{escape(p.category or "")} · {p.units:,} sold</p></article>'
        )
    return "\n".join(cards)


@get("/demo", include_in_schema=False)
async def demo_shop(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The shop page: an anonymous visitor."""
    services, tenant = _caller(request)
    facts, notice = await _read(services, tenant, shop_facts)
    if facts is not None and facts.best_sellers:
        period = f"{_day(facts.first_order)} to {_day(facts.last_order)}"
        values = {
            "products": f"{facts.products:,}",
            "departments": str(len(facts.departments)),
            "best_sellers_note": escape(f"Ranked by units sold on paid orders, {period}."),
            "best_sellers": _cards(facts),
            "department_list": '    <ul class="departments">'
            + "".join(f"<li>{escape(name)} ({n})</li>" for name, n in facts.departments)
            + "</ul>",
        }
    else:
        values = {
            "products": "hundreds of",
            "departments": "a dozen",
            "best_sellers_note": "",
            "best_sellers": notice or _notice(NOT_LOADED.format(why=" (no orders yet)")),
            "department_list": "",
        }
    body = _template("shop.html").substitute(values)
    return _render(
        request,
        title="Gear for the trail, the kitchen and the road",
        current="shop",
        who="Not signed in",
        body=body,
        questions=SHOP_QUESTIONS,
        token=None,
        private=False,
    )


def _orders_table(customer: Customer) -> str:
    if not customer.recent:
        return "    <p>No orders yet.</p>"
    rows = "".join(
        f"<tr><td>{escape(o.number)}</td><td>{_day(o.created)}</td><td class=num>{o.items}</td>"
        f"<td class=num>{escape(o.total or '')}</td><td>{escape(o.status)}</td></tr>"
        for o in customer.recent
    )
    head = "<tr><th>order</th><th>date</th><th class=num>items</th><th class=num>total</th><th>status</th></tr>"
    more = f"<p class=meta>The last {len(customer.recent)} of {customer.orders} orders.</p>"
    return f"    <table>{head}{rows}</table>\n    {more}"


@get("/demo/account", include_in_schema=False)
async def demo_account(request: Request[Any, Any, Any]) -> Response[bytes]:
    """A signed-in customer's page, served with an identity token for that customer."""
    services, tenant = _caller(request)
    customer, notice = await _read(services, tenant, partial(customer_facts, customer_id=DEMO_CUSTOMER_ID))
    token = None
    if customer is not None and tenant is not None:
        if tenant.identity_secret:
            token = issue_identity_token(
                secret=tenant.identity_secret, tenant=tenant.name, sub=customer.id, email=customer.email, ttl=TOKEN_TTL
            )
        else:
            notice = _notice(
                f"Tenant {tenant.name!r} has no identity_secret_env, so this page cannot sign its visitor in:"
                " the assistant below sees an anonymous visitor."
            )
    if customer is not None:
        since = f", a customer since {_day(customer.created)}" if customer.created else ""
        greeting = escape(f"Welcome back, {customer.name} ({customer.email}{since}).")
        greeting += " Ask the assistant about your orders: it knows who you are."
        who = escape(f"Signed in as {customer.name}")
        orders = _orders_table(customer)
    else:
        greeting, who, orders = "The demo customer is not in this shop's data.", "Not signed in", ""
        notice = notice or _notice(NOT_LOADED.format(why=f" (no customer {DEMO_CUSTOMER_ID})"))
    body = _template("account.html").substitute(greeting=greeting, notice=notice, orders=orders)
    return _render(
        request,
        title="My account",
        current="account",
        who=who,
        body=body,
        questions=ACCOUNT_QUESTIONS,
        token=token,
        private=True,
    )


def _figures(facts: StaffFacts) -> str:
    items = [
        ("products on sale", f"{facts.products:,}"),
        ("customers", f"{facts.customers:,}"),
        ("paid orders", f"{facts.paid_orders:,}"),
        ("currencies", ", ".join(facts.currencies) or "–"),
    ]
    cells = "".join(f'<div class="figure"><b>{escape(v)}</b>{escape(k)}</div>' for k, v in items)
    period = escape(f"Orders from {_day(facts.first_order)} to {_day(facts.last_order)}.")
    return f'    <div class="figures">{cells}</div>\n    <p class="meta">{period}</p>'


@get("/demo/staff", include_in_schema=False)
async def demo_staff(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The shop's staff: a staff identity token, so shop-wide figures may be shown."""
    services, tenant = _caller(request)
    facts, notice = await _read(services, tenant, staff_facts)
    token = None
    if tenant is not None and tenant.identity_secret:
        sub, email = STAFF_USER
        token = issue_identity_token(
            secret=tenant.identity_secret, tenant=tenant.name, sub=sub, email=email, staff=True, ttl=TOKEN_TTL
        )
    elif tenant is not None:
        notice = _notice(
            f"Tenant {tenant.name!r} has no identity_secret_env, so this page cannot sign its visitor in as staff."
        )
    figures = _figures(facts) if facts is not None else ""
    body = _template("staff.html").substitute(notice=notice, figures=figures)
    return _render(
        request,
        title="Staff",
        current="staff",
        who=escape(f"Signed in as staff ({STAFF_USER[1]})") if token else "Not signed in",
        body=body,
        questions=STAFF_QUESTIONS,
        token=token,
        private=True,
    )


demo_page_routes: list[Any] = [demo_shop, demo_account, demo_staff]
