"""Waiting for a condition another process or thread brings about (never a fixed sleep)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], *, timeout: float = 10.0, interval: float = 0.02) -> T:
    """Return the first truthy result of ``probe``; fail after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while True:
            result = await probe()
            if result:
                return result
            await anyio.sleep(interval)
