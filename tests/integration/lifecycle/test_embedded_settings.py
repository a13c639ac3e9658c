"""The embedded Postgres runs with the settings sized for search (``pg_server.server_settings``),
and they scale with the machine's memory within their bounds."""

from __future__ import annotations

import os

import pytest

from proxy.store import pg_server
from proxy.store.db import Database

pytestmark = pytest.mark.integration

GB = 1024 * pg_server.MB


@pytest.mark.parametrize(
    ("memory", "shared", "cache"),
    [(512 * pg_server.MB, "128MB", "256MB"), (8 * GB, "1024MB", "4096MB"), (64 * GB, "2048MB", "32768MB")],
)
def test_shared_buffers_are_an_eighth_of_memory_within_bounds(memory: int, shared: str, cache: str) -> None:
    settings = pg_server.server_settings(memory)
    assert (settings["shared_buffers"], settings["effective_cache_size"]) == (shared, cache)


@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")), reason="another server's settings are its own")
async def test_the_embedded_server_runs_with_them(database: Database) -> None:
    row = await database.fetch_one(
        "select (select setting::bigint * 8 / 1024 from pg_settings where name = 'shared_buffers') as shared_mb,"
        " current_setting('work_mem') as work_mem, current_setting('random_page_cost') as random_page_cost,"
        " current_setting('jit') as jit"
    )
    expected = pg_server.server_settings()
    assert row is not None
    assert (row["jit"], row["random_page_cost"], row["work_mem"]) == ("off", "1.1", "16MB")
    assert f"{row['shared_mb']}MB" == expected["shared_buffers"]
