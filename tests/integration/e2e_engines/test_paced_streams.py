"""The whole chain over real HTTP with the provider's reading held between the stream's writes
(``proxy.engines.wire.pacing``): client -> proxy (uvicorn) -> chat and responses engines -> simulator
writing each token on its own. Every token reaches the client in order, once, and the stream ends
with ``done``; the holds did happen (counted), so the path is the one under test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.app import create_app
from proxy.engines.wire.pacing import Holds
from proxy.simulator import ServerThread, SimulatorConfig, SimulatorServer
from proxy.turns.channel import WRITE_PAUSE
from tests.support.apps import directory, make_settings, make_tenant, sse_events
from tests.support.scripted_engine import scripted_tools

pytestmark = pytest.mark.integration

ENGINES = ["chat", "responses"]
WORDS = " ".join(f"word{n}" for n in range(40))


@pytest.fixture(scope="module")
def proxy_server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with SimulatorServer(SimulatorConfig(model="echo")) as simulator:
        tenants = directory(
            *(
                make_tenant(engine, [f"{engine}.test"], engine=engine, base_url=simulator.base_url, tools=["lookup"])
                for engine in ENGINES
            )
        )
        settings = make_settings(pg_url, Path(tmp_path_factory.mktemp("paced")), provider_max_retries=0)
        with ServerThread(create_app(settings, tenants=tenants, tools=scripted_tools())) as server:
            yield server


@pytest.fixture
def holds_placed(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    placed: list[float] = []
    add = Holds.add

    def counted(self: Holds, held: Any, seconds: float) -> None:
        placed.append(seconds)
        add(self, held, seconds)

    monkeypatch.setattr(Holds, "add", counted)
    return placed


@pytest.fixture
def many_streams_open() -> Iterator[None]:
    """As if many streams were open on the worker: the pause between writes has grown, and the
    provider's reading is held during it (the server runs in this process)."""
    WRITE_PAUSE.readers += 1_000
    try:
        yield
    finally:
        WRITE_PAUSE.readers -= 1_000


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_paced_reply_reaches_the_client_whole_in_order_and_ends_with_done(
    proxy_server: ServerThread, holds_placed: list[float], many_streams_open: None, engine: str
) -> None:
    headers = {"Origin": f"https://{engine}.test"}
    async with httpx.AsyncClient(base_url=proxy_server.url, headers=headers, timeout=30) as http:
        thread_id = (await http.post("/v1/threads")).json()["thread_id"]
        response = await http.post(
            f"/v1/threads/{thread_id}/messages", json={"content": f"[[pace:ttft=0,gap=10]] [[reply:{WORDS}]]"}
        )
    events: list[tuple[str, dict[str, Any], str | None]] = sse_events(response.text)
    names = [name for name, _, _ in events]
    assert names[0] == "run.started" and names[-2:] == ["run.completed", "done"]
    assert "".join(data["delta"] for name, data, _ in events if name == "message.delta") == WORDS
    ids = [int(event_id.rsplit(":", 1)[1]) for _, _, event_id in events if event_id]
    assert ids == list(range(1, len(ids) + 1))  # every event once, in order, resumable ids intact
    assert holds_placed  # the stream's writer held the provider's reading between its writes


async def test_with_few_streams_open_the_reading_is_not_held(
    proxy_server: ServerThread, holds_placed: list[float]
) -> None:
    headers = {"Origin": "https://chat.test"}
    async with httpx.AsyncClient(base_url=proxy_server.url, headers=headers, timeout=30) as http:
        thread_id = (await http.post("/v1/threads")).json()["thread_id"]
        response = await http.post(
            f"/v1/threads/{thread_id}/messages", json={"content": f"[[pace:ttft=0,gap=10]] [[reply:{WORDS}]]"}
        )
    events = sse_events(response.text)
    assert "".join(data["delta"] for name, data, _ in events if name == "message.delta") == WORDS
    assert [name for name, _, _ in events][-2:] == ["run.completed", "done"]
    assert holds_placed == []
