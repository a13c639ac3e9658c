"""Debian's chromium, driven by Playwright: one headless browser for the whole test run.

The browser tests (``tests/e2e``, ``tests/frontends``) share it through the session fixture
``browser`` in ``tests/conftest.py``; each test opens its own context, so no state crosses tests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return path


@asynccontextmanager
async def launched() -> AsyncIterator[Browser]:
    """Chromium while the block runs (never a downloaded browser: Debian's, by its path)."""
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()
