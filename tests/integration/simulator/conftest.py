"""One simulator per test module, driven through the official SDK and plain httpx for ``/_sim``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest

from proxy.simulator import SimulatorServer


class Control:
    """The ``/_sim`` endpoints."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def reset(self) -> None:
        (await self.http.post("/_sim/reset")).raise_for_status()

    async def queue(self, *kinds: str) -> None:
        (await self.http.post("/_sim/faults", json={"next": list(kinds)})).raise_for_status()

    async def requests(self, **wait_for: int) -> list[dict[str, Any]]:
        response = await self.http.get("/_sim/requests", params=wait_for)
        response.raise_for_status()
        payload = response.json()
        assert payload["satisfied"], f"the simulator log never reached {wait_for}"
        return payload["requests"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer() as server:
        yield server


@pytest.fixture
async def control(simulator: SimulatorServer) -> AsyncIterator[Control]:
    async with httpx.AsyncClient(base_url=simulator.root_url, timeout=10) as http:
        sim_control = Control(http)
        await sim_control.reset()
        yield sim_control


@pytest.fixture
async def client(simulator: SimulatorServer, control: Control) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=simulator.base_url, api_key="sk-test", max_retries=0, timeout=10) as sdk:
        yield sdk
