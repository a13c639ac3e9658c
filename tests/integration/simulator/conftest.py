"""One simulator per test module, driven through the official SDK and plain httpx for ``/_sim``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest

from proxy.simulator import SimulatorConfig, SimulatorServer
from tests.integration.simulator.support import Control


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(model="echo")) as server:
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
