"""What the engine tests over the simulator share: one simulator per module, an SDK client on it,
and its ``/_sim`` side door."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import openai
import pytest

from proxy.simulator import SimulatorConfig, SimulatorServer


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(model="echo")) as sim:
        yield sim


@pytest.fixture
async def control(simulator: SimulatorServer) -> AsyncIterator[httpx2.AsyncClient]:
    """The simulator's ``/_sim`` side door, its request log reset for this test."""
    async with httpx2.AsyncClient(base_url=f"{simulator.root_url}/_sim") as http:
        (await http.post("/reset")).raise_for_status()
        yield http


@pytest.fixture
async def client(simulator: SimulatorServer, control: httpx2.AsyncClient) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=simulator.base_url, api_key="sk-sim", max_retries=0) as sdk:
        yield sdk


async def logged(control: httpx2.AsyncClient, path_end: str, **wait: Any) -> list[dict[str, Any]]:
    """The bodies of the requests the simulator saw whose path ends with ``path_end``."""
    requests = (await control.get("/requests", params=wait)).json()["requests"]
    return [r["body"] for r in requests if r["path"].endswith(path_end)]
