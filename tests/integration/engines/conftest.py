"""What the engine tests over the simulator share: one simulator per module, an SDK client on it,
its ``/_sim`` side door, and a watch on async generators left for the garbage collector."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from types import AsyncGeneratorType
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


@contextmanager
def abandoned_generators() -> Iterator[list[str]]:
    """The async generators first iterated in the block that were dropped unfinished (suspended,
    never closed), by their functions' names: the event loop's finalizer hook is called for each
    when it is freed, before it schedules their ``aclose()``. Use it inside a running test (the loop
    installs its own hooks whenever it starts running); a collection at the end of the block finds
    those held by reference cycles."""
    firstiter, finalizer = sys.get_asyncgen_hooks()
    abandoned: list[str] = []

    def record(agen: AsyncGeneratorType[Any, Any]) -> None:
        abandoned.append(agen.ag_code.co_qualname)
        if finalizer is not None:
            finalizer(agen)

    sys.set_asyncgen_hooks(firstiter, record)
    try:
        yield abandoned
        gc.collect()
    finally:
        sys.set_asyncgen_hooks(firstiter, finalizer)
