"""Shared fixtures: one embedded Postgres per test run (pgserver), one database pool on it; the
full demo shop, seeded once; one headless chromium for the browser tests.

Set ``TEST_DATABASE_URL`` to run against another Postgres with pgvector instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from proxy.store import embedded
from proxy.store.db import Database
from tests.support.browser import launched
from tests.support.demo_shop import DemoShop, ensure_demo_shop
from tests.support.litellm_early import EARLY, start_early, wanted
from tests.support.wheel import build_wheel

# The run starts dozens of `python -m proxy ...` (and bench) processes: with bytecode written once,
# each later one imports the sources from it instead of compiling them again.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


_litellm_wanted = pytest.StashKey[bool]()


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[_litellm_wanted] = not session.config.option.collectonly and wanted(
        [item.nodeid for item in session.items]
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """LiteLLM's proxy starts in the background, if a test of the run needs it, with the first
    integration test: those run in this process on one core (the browser tests and the bench's
    smoke before them keep both busy), so LiteLLM's start takes the other."""
    stash = item.config.stash
    if stash.get(_litellm_wanted, False) and EARLY not in stash and item.nodeid.startswith("tests/integration/"):
        stash[EARLY] = start_early()


def pytest_sessionfinish(session: pytest.Session) -> None:
    early = session.config.stash.get(EARLY, None)
    if early is not None:
        early.stop()


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


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """The run's one headless chromium, for every browser test (``tests/support/browser.py``)."""
    async with launched() as chromium:
        yield chromium


@pytest.fixture(scope="session")
async def demo_shop_seed(database: Database) -> DemoShop:
    """The full demo shop, seeded once per run (tens of seconds) for all that needs it: the demo
    pages in the browser, the grounding suite and the seed's own test."""
    return await ensure_demo_shop(database)


@pytest.fixture(scope="session")
def project_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once for the tests of what it holds (``tests/support/wheel.py``)."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))
