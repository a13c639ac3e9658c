"""The real front-end client libraries from npm against the real gateway on 127.0.0.1.

``package.json`` / ``package-lock.json`` here pin the packages (``ai``, ``@ai-sdk/react``,
``@ag-ui/client``, React, esbuild); the first test that needs them runs ``npm ci`` once, skipped
while ``node_modules`` matches the lock file. Small ``.mjs`` scripts drive the libraries, print
JSON, and the tests assert on it.

The gateway is ``create_app`` over the test Postgres, served by uvicorn in a thread, with the
``responses`` engine talking to the simulator (steered by ``[[reply:...]]``, ``[[tool:...]]``,
``[[pace:...]]`` and ``[[fault:...]]`` in the message) and the real lead tools.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.app import create_app
from proxy.leads.tools import register_lead_tools
from proxy.simulator import ServerThread, SimulatorServer
from proxy.tools.registry import ToolContext, ToolError, ToolRegistry
from tests.support.apps import directory, make_settings, make_tenant

HERE = Path(__file__).resolve().parent
CLIENT_KEY = "ck_frontends_other"


@pytest.fixture(scope="session")
def node_packages() -> Path:
    """``node_modules`` as the lock file says: ``npm ci`` when it is missing or stale."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed (scripts/test installs them)")
    lock = (HERE / "package-lock.json").read_bytes()
    stamp = HERE / "node_modules" / ".installed-from-lock"
    digest = hashlib.sha256(lock).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True, timeout=900)
        stamp.write_text(digest)
    return HERE / "node_modules"


def run_node(script: str, args: dict[str, Any], *, timeout: float = 60) -> dict[str, Any]:
    """Run one of the scripts here with its JSON argument; its JSON output."""
    done = subprocess.run(
        ["node", str(HERE / script), json.dumps(args)],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NODE_ENV": "production"},
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def front_end_tools() -> ToolRegistry:
    """The product's lead tools and a catalogue search stand-in that can also fail."""
    registry = ToolRegistry()
    register_lead_tools(registry)
    any_args = {"type": "object", "properties": {}, "additionalProperties": True}

    @registry.tool(name="search_products", description="Search the catalogue", parameters=any_args)
    async def search_products(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("query") == "broken":
            raise ToolError("the catalogue is not reachable")
        return {"products": [{"name": "Stoneware Pour-over Dripper", "price": "€32.00"}]}

    return registry


@dataclass
class Gateway:
    server: ServerThread
    simulator: SimulatorServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def origin(self) -> str:
        """An origin of the ``web`` tenant (its domain is 127.0.0.1; the port is ignored)."""
        return self.server.url

    def headers(self, visitor: str) -> dict[str, str]:
        return {"Origin": self.origin, "X-Visitor-Id": visitor}

    def new_thread(self, visitor: str) -> str:
        response = httpx.post(f"{self.url}/v1/threads", headers=self.headers(visitor))
        assert response.status_code == 201, response.text
        thread_id: str = response.json()["thread_id"]
        return thread_id


@pytest.fixture(scope="session")
def gateway(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with SimulatorServer() as simulator:
        tenants = directory(
            make_tenant(
                "web",
                ["127.0.0.1"],
                base_url=simulator.base_url,
                api_key="sk-sim",
                tools=["search_products", "capture_lead", "escalate_to_human"],
            ),
            make_tenant("other", ["localhost"], base_url=simulator.base_url, client_keys=(CLIENT_KEY,)),
        )
        settings = make_settings(
            pg_url, tmp_path_factory.mktemp("frontends"), heartbeat_interval=0.5, disconnect_grace=5.0
        )
        app = create_app(settings, tenants=tenants, tools=front_end_tools())
        with ServerThread(app) as running:
            yield Gateway(running, simulator)


@pytest.fixture
def visitor() -> str:
    return f"visitor-{uuid.uuid4().hex[:12]}"
