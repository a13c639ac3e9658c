"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from proxy.simulator import SimulatorServer


@pytest.fixture
async def sim(simulator: SimulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    """The control API of the module's ``simulator``, reset first (its faults, logs and state)."""
    async with httpx.AsyncClient(base_url=simulator.root_url, timeout=20) as client:
        await client.post("/_sim/reset")
        yield client
