"""Shared fixtures: one embedded Postgres per test run (pgserver), one database pool on it.

Set ``TEST_DATABASE_URL`` to run against another Postgres with pgvector instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from proxy.store import embedded
from proxy.store.db import Database


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    data_dir = Path(tempfile.mkdtemp(prefix="proxy-test-pg-"))
    try:
        with embedded.running(data_dir / "postgres") as url:  # stopped when the session ends
            yield url
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def database(pg_url: str) -> AsyncIterator[Database]:
    async with Database.connect(pg_url, min_size=1, max_size=8) as db:
        yield db
