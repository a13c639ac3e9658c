"""The check of each tenant's provider the app starts in the background ends with the app: a provider
slow to answer does not keep it working (and logging) after the app has shut down."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import anyio
import pytest

from proxy.app import create_app
from tests.support.apps import directory, make_settings, make_tenant

pytestmark = pytest.mark.integration


class Silent:
    """A provider that takes requests and never answers; it sees when the client hangs up."""

    def __init__(self) -> None:
        self.asked = anyio.Event()
        self.hung_up = anyio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.asked.set()
        try:
            while await reader.read(65536):
                pass  # the request; no answer comes
        except ConnectionError:
            pass
        finally:
            self.hung_up.set()
            writer.close()


async def test_a_check_still_waiting_for_its_provider_ends_with_the_app(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    silent = Silent()
    server = await asyncio.start_server(silent.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # context "auto": the start-up check asks the provider what it offers
    tenant = make_tenant("slow", ["slow.test"], base_url=f"http://127.0.0.1:{port}/v1", context="auto")
    app = create_app(make_settings(pg_url, tmp_path, provider_max_retries=0), tenants=directory(tenant))
    caplog.set_level(logging.INFO, logger="proxy.engines.checks")
    before = asyncio.all_tasks()
    try:
        async with app.lifespan():
            with anyio.fail_after(20):
                await silent.asked.wait()  # the check is under way, waiting for the answer
            started = asyncio.all_tasks() - before - {asyncio.current_task()}
            assert started  # the check's task, at least

        assert [task for task in started if not task.done()] == []
        with anyio.fail_after(10):
            await silent.hung_up.wait()  # its request was given up
        assert [r.getMessage() for r in caplog.records if r.name == "proxy.engines.checks"] == []
    finally:
        server.close()
        await server.wait_closed()
