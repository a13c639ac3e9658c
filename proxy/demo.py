"""``python -m proxy demo``: the whole product on one machine, with nothing to configure.

An embedded Postgres, the demo shop, a local SMTP sink keeping mails as ``.eml`` files, and the
OpenAI-protocol simulator as the provider unless ``OPENAI_API_KEY`` is set.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import anyio
import uvicorn

from proxy.app import create_app
from proxy.mail.settings import MailSettings
from proxy.mail.sink import run_smtp_sink
from proxy.runtime import open_runtime
from proxy.settings import Settings
from proxy.shop.demo_data import demo_seeded, seed_demo
from proxy.simulator import SimulatorConfig, SimulatorServer
from proxy.store.db import database_url
from proxy.tenants import load_tenants

logger = logging.getLogger("proxy.demo")

DEMO_TENANTS = """\
# The demo's tenant: the pages served by this machine. Copy and edit for your own sites.
[tenants.demo]
domains = ["localhost", "127.0.0.1"]
engine = "responses"
model = "gpt-4.1-mini"
api_key_env = "OPENAI_API_KEY"
instructions = \"\"\"You are the assistant of Northwind Outfitters, an outdoor gear shop.
Answer briefly and truthfully. Use search_products for questions about products and prices,
shop_insights for questions about sales, and capture_lead when a visitor wants to be contacted.\"\"\"
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
suggested_questions = ["Do you have a waterproof jacket under 150 EUR?", "What are your best sellers?"]
"""


def _demo_tenants_file(data_dir: Path) -> Path:
    path = data_dir / "demo-tenants.toml"
    if not path.exists():
        path.write_text(DEMO_TENANTS, encoding="utf-8")
    return path


async def _seed(settings: Settings) -> None:
    async with open_runtime(settings) as runtime:
        if await demo_seeded(runtime.db):
            logger.info("demo shop already loaded")
            return
        logger.info("loading the demo shop (first run only)...")
        summary = await seed_demo(runtime.db)
        logger.info("demo shop loaded: %s", summary)


async def _serve(settings: Settings, host: str, port: int) -> None:
    mail_dir = settings.data_dir / "mail"
    # one hold on the embedded Postgres for the whole demo: seeding and the app share the server,
    # and it is stopped when the demo ends, however it ends
    async with (
        database_url(settings.database_url, settings.embedded_database_dir),
        run_smtp_sink(mail_dir) as (smtp_host, smtp_port),
    ):
        mail = MailSettings(_env_file=None, host=smtp_host, port=smtp_port, starttls=False, poll_interval=5)
        await _seed(settings)
        app = create_app(settings, tenants=load_tenants(settings), mail_settings=mail)
        logger.info("lead mails arrive as .eml files in %s", mail_dir.resolve())
        logger.info("open http://%s:%s/demo", host, port)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_config=None,  # our logging; uvicorn's start and stop chatter is quieted in run_demo
                proxy_headers=False,
                timeout_graceful_shutdown=int(settings.shutdown_grace) + 5,
            )
        )
        await server.serve()


def _quiet_machinery(settings: Settings) -> None:
    """The terminal shows what a person needs; the servers' own start and stop lines (uvicorn's,
    the embedded Postgres's) appear with ``PROXY_LOG_LEVEL=debug``. Warnings always do."""
    if settings.log_level.lower() != "debug":
        for name in ("uvicorn.error", "proxy.store.embedded"):
            logging.getLogger(name).setLevel(logging.WARNING)


def run_demo(host: str = "127.0.0.1", port: int = 8000) -> int:
    """Run until Ctrl+C or SIGTERM (``main`` turns it into an interrupt); either ends here, after the
    running replies were drained and the embedded Postgres stopped."""
    settings = Settings()
    _quiet_machinery(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.tenants_file is None and not os.environ.get("DOMAINS"):
        settings.tenants_file = _demo_tenants_file(settings.data_dir)
    simulator = None
    if not os.environ.get("OPENAI_API_KEY") and not settings.simulator_url:
        simulator = SimulatorServer(SimulatorConfig(ttft_ms=300, token_gap_ms=30)).start()
        _quiet_machinery(settings)  # the simulator's uvicorn sets its loggers' levels too
        settings.simulator_url = simulator.base_url
        logger.info("no OPENAI_API_KEY: the local simulator answers at %s", simulator.base_url)
    try:
        anyio.run(_serve, settings, host, port)
    except KeyboardInterrupt:  # Ctrl+C, or SIGTERM (main makes it act as Ctrl+C)
        pass
    finally:
        if simulator is not None:
            simulator.stop()
    return 0
