"""``python -m proxy demo``: the whole product on one machine, with nothing to configure.

An embedded Postgres, the demo shop, a local SMTP sink keeping mails as ``.eml`` files, and the
OpenAI-protocol simulator as the provider unless ``OPENAI_API_KEY`` is set.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import anyio
import uvicorn

from proxy.app import create_app
from proxy.demo_files import use_demo_files, write_tenants_file
from proxy.mail.settings import MailSettings
from proxy.mail.sink import run_smtp_sink
from proxy.runtime import open_runtime
from proxy.settings import Settings
from proxy.shop.demo_data import demo_seeded, seed_demo
from proxy.simulator import SimulatorConfig, SimulatorServer
from proxy.store.db import database_url
from proxy.tenants import TenantDirectory, load_tenants

logger = logging.getLogger("proxy.demo")

DEMO_MAIL_POLL = 5.0  # seconds between the outbox's looks for mail, so the demo's mails show up soon

DEMO_TENANTS = """\
# The demo's tenant: the pages served by this machine. Copy and edit for your own sites.
# Secrets are never written here: demo-secrets.env, next to this file, holds the variables named below.
[tenants.demo]
domains = ["localhost", "127.0.0.1"]
engine = "responses"
model = "gpt-4.1-mini"
api_key_env = "OPENAI_API_KEY"                # unset: the local simulator answers
client_key_envs = ["DEMO_CLIENT_KEY"]         # server-side clients and the admin API (Authorization: Bearer ...)
identity_secret_env = "DEMO_IDENTITY_SECRET"  # signs the identity tokens of /demo/account and /demo/staff
instructions = \"\"\"You are the assistant of Northwind Outfitters, an online shop with gear for the trail, \\
the kitchen and the road, and for home, office and garden, in twelve departments (Outdoor, \\
Coffee & Tea, Kitchen, Audio, Fitness, Home, Office, Bags, Electronics, Garden, Personal Care, Games & Toys), \\
priced in EUR and USD.
Answer briefly and only from what the tools return; never invent products, prices, orders or people.
Use search_products and get_product for products and prices, find_customer and customer_orders for a signed-in \\
customer's own record and orders, and shop_insights for shop-wide figures (staff only).
When a visitor wants to be contacted, use capture_lead; when they ask for a person, use escalate_to_human.\\
\"\"\"
tools = ["search_products", "get_product", "find_customer", "customer_orders", "shop_insights",
         "capture_lead", "escalate_to_human"]
lead_recipients = ["sales@northwind.example"]

[tenants.demo.shop]
source = "demo"

[tenants.demo.widget]
title = "Northwind assistant"
primary_color = "#1f5a66"
avatar_url = "/demo/avatar.svg"
greeting = "Hi! Ask me about our gear, prices or your order."
suggested_questions = ["Do you have a waterproof jacket under 150 EUR?", "Wireless headphones under $100?",
                       "What tents do you have?", "Can I talk to a person?"]
"""


async def _seed(settings: Settings) -> None:
    async with open_runtime(settings) as runtime:
        if await demo_seeded(runtime.db):
            return
        logger.info("loading the demo shop (first run only, about half a minute)...")
        s = await seed_demo(runtime.db)
        logger.info("demo shop loaded: %s products, %s customers, %s invoices", s.products, s.customers, s.invoices)


def welcome(base: str, tenants: TenantDirectory, settings: Settings, mail_dir: Path) -> str:
    """What a person needs to try the demo: the pages, where mails go, the client key, who answers."""
    demo = tenants.get("demo")
    rows = [
        ("shop page (anonymous visitor)", f"{base}/demo"),
        ("My account (a signed-in customer)", f"{base}/demo/account"),
        ("staff page (shop-wide figures)", f"{base}/demo/staff"),
        ("lead and handoff mails (.eml)", str(mail_dir.resolve())),
    ]
    if demo is not None and demo.client_keys:
        rows.append(("client key (admin API)", demo.client_keys[0]))
        rows.append(("  try", f'curl -H "Authorization: Bearer {demo.client_keys[0]}" {base}/v1/admin/leads'))
    if settings.tenants_file is not None:
        rows.append(("tenants file", str(settings.tenants_file)))
    simulated = demo is not None and settings.simulator_url is not None and demo.base_url == settings.simulator_url
    rows.append(
        (
            "answers come from",
            "the local offline model (no OPENAI_API_KEY): it routes by words and writes from templates"
            if simulated
            else "your provider (OPENAI_API_KEY)",
        )
    )
    width = max(len(label) for label, _ in rows)
    lines = [f"  {label:<{width}}  {value}" for label, value in rows]
    return "\n".join(["", "The demo shop is ready:", *lines, "Stop it with Ctrl+C.", ""])


async def _serve(settings: Settings, host: str, port: int) -> None:
    mail_dir = settings.data_dir / "mail"
    # one hold on the embedded Postgres for the whole demo: seeding and the app share the server,
    # and it is stopped when the demo ends, however it ends
    async with (
        database_url(settings.database_url, settings.embedded_database_dir),
        run_smtp_sink(mail_dir) as (smtp_host, smtp_port),
    ):
        # the demo's mail goes to its own sink, whatever SMTP the environment names
        mail = MailSettings(host=smtp_host, port=smtp_port, starttls=False, poll_interval=DEMO_MAIL_POLL)
        await _seed(settings)
        tenants = load_tenants(settings)
        app = create_app(settings, tenants=tenants, mail_settings=mail)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # our logging; uvicorn's start and stop chatter is quieted in run_demo
            proxy_headers=False,
            access_log=False,
            timeout_graceful_shutdown=settings.server_shutdown_timeout,
        )
        server = _DemoServer(config, welcome(f"http://{host}:{port}", tenants, settings, mail_dir))
        await server.serve()


class _DemoServer(uvicorn.Server):
    """Says where to go once it accepts connections, not before (the port may be taken)."""

    def __init__(self, config: uvicorn.Config, welcome: str) -> None:
        super().__init__(config)
        self.welcome = welcome

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self.welcome, flush=True)


def _quiet_machinery(settings: Settings) -> None:
    """The terminal shows what a person needs; the machinery's own lines (uvicorn's, the embedded
    Postgres's, migrations, the provider check, a line per turn) appear with ``PROXY_LOG_LEVEL=debug``.
    Warnings always do."""
    if settings.log_level.lower() != "debug":
        for name in (
            "uvicorn.error",
            "proxy.store.embedded",
            "proxy.store.migrate",
            "proxy.mail.sink",
            "proxy.engines.context",
            "proxy.engines.checks",
            "proxy.turns.runner",  # a line per turn
            "proxy.access",  # a line per request
        ):
            logging.getLogger(name).setLevel(logging.WARNING)


def run_demo(host: str = "127.0.0.1", port: int = 8000) -> int:
    """Run until Ctrl+C or SIGTERM (``main`` turns it into an interrupt); either ends here, after the
    running replies were drained and the embedded Postgres stopped."""
    settings = Settings()
    _quiet_machinery(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.tenants_file is None and not settings.legacy_domains:
        write_tenants_file(settings.data_dir, DEMO_TENANTS)
    use_demo_files(settings)  # the demo tenant's secrets, generated on the first run
    simulator = None
    if not os.environ.get("OPENAI_API_KEY") and not settings.simulator_url:
        simulator = SimulatorServer(SimulatorConfig(ttft_ms=300, token_gap_ms=30)).start()
        _quiet_machinery(settings)  # the simulator's uvicorn sets its loggers' levels too
        settings.simulator_url = simulator.base_url
    try:
        anyio.run(_serve, settings, host, port)
    except KeyboardInterrupt:  # Ctrl+C, or SIGTERM (main makes it act as Ctrl+C)
        pass
    finally:
        if simulator is not None:
            simulator.stop()
    return 0
