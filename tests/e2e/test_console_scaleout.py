"""The takeover with the visitor and the console on two different ``python -m proxy serve``
processes that share only Postgres: who holds the thread, the visitor's messages and the staff
member's replies all cross between them (LISTEN/NOTIFY)."""

from __future__ import annotations

import html
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from proxy.simulator import SimulatorServer
from tests.e2e.conftest import HOST_PAGE, Site
from tests.e2e.test_console import takeover_round_trip
from tests.support.processes import serve_instances

SECRET = "scaleout-console-identity-secret-32b-long"
TENANTS = """
[tenants.harbor2]
domains = ["127.0.0.1"]
engine = "responses"
api_key_env = "CONSOLE_SCALE_KEY"
base_url = "{base_url}"
identity_secret_env = "CONSOLE_SCALE_IDENTITY"
tools = ["capture_lead", "escalate_to_human"]
limits = {{ threads_per_hour_per_ip = 0, messages_per_minute_per_ip = 0, messages_per_minute_per_visitor = 0 }}
"""


@pytest.fixture(scope="module")
def two_instances(
    pg_url: str, simulator: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    folder = Path(tmp_path_factory.mktemp("console-scaleout"))
    (folder / "tenants.toml").write_text(TENANTS.format(base_url=simulator.base_url))
    env = {
        **os.environ,
        "PROXY_TENANTS_FILE": str(folder / "tenants.toml"),
        "DATABASE_URL": pg_url,
        "CONSOLE_SCALE_KEY": "sk-sim",
        "CONSOLE_SCALE_IDENTITY": SECRET,
        "PROXY_DATA_DIR": str(folder),
        "PROXY_LOG_FORMAT": "text",
        "PROXY_LOG_LEVEL": "warning",
        "PROXY_MAX_LOOP_LAG": "0",
        "PROXY_MAX_CPU_BUSY": "0",
    }
    with serve_instances(env, folder) as urls:
        yield urls


async def test_takeover_across_two_serve_processes(
    page: Page, browser: Browser, site: Site, simulator: SimulatorServer, two_instances: list[str]
) -> None:
    visitor_side, console_side = two_instances
    name = f"scale{len(site.pages)}"
    site.pages[name] = HOST_PAGE.format(src=f"{visitor_side}/widget.js", attrs="", css="")
    await page.goto(f"{site.url.replace('localhost', '127.0.0.1')}/{html.escape(name)}")
    await takeover_round_trip(
        page,
        browser,
        console_url=console_side,
        simulator_url=simulator.root_url,
        tenant="harbor2",
        secret=SECRET,
        marker="e2e-two-servers",
    )
