"""The proxy behind LiteLLM's own proxy, in front of the simulator, with both the chat and the
responses engine: client -> proxy -> LiteLLM -> simulator.

LiteLLM has no Conversations API (``POST /v1/conversations`` is a 404 ``{"detail":"Not Found"}``)
but passes ``/v1/responses`` through, ids and ``previous_response_id`` included, so the responses
engine finds out to chain responses. LiteLLM is installed into its own virtualenv under
``bench/.work/`` on first use, as the benchmark does (its dependencies clash with ours), and kept
there for later runs. Without a network to install it from, the tests are skipped and say why.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.targets import LITELLM_REQUIREMENT, StartError
from proxy.app import create_app, default_tools
from proxy.simulator import ServerThread, SimulatorServer
from tests.support.apps import directory, make_settings, make_tenant
from tests.support.chats import client_for, context_way, names, new_thread, seen_by_model, text_of, turn
from tests.support.litellm_early import EARLY, EarlyLiteLLM, start_early
from tests.support.scripted_engine import scripted_tools

pytestmark = pytest.mark.integration

ENGINES = ["chat", "responses"]
CLIENT_KEY = "ck-litellm-admin"
# what pip says when it cannot reach the package index
_OFFLINE = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Failed to establish a new connection",
    "No matching distribution found",
    "ConnectionError",
)


@pytest.fixture(scope="module")
def early(pytestconfig: pytest.Config) -> Iterator[EarlyLiteLLM]:
    """LiteLLM in front of its simulator, started in the background after collection
    (``tests/support/litellm_early.py``); started here if the run did not."""
    early = pytestconfig.stash.get(EARLY, None)
    if early is not None:
        yield early
        return
    early = start_early()
    try:
        yield early
    finally:
        early.stop()


@pytest.fixture(scope="module")
def simulator(early: EarlyLiteLLM) -> SimulatorServer:
    return early.simulator


@pytest.fixture(scope="module")
def litellm(early: EarlyLiteLLM) -> tuple[str, str]:
    """LiteLLM's proxy in front of the simulator: its base URL and master key."""
    try:
        service, master_key = early.result()
    except StartError as exc:
        if any(sign in str(exc) for sign in _OFFLINE):
            pytest.skip(f"LiteLLM ({LITELLM_REQUIREMENT}) cannot be installed from the package index: {exc}")
        raise
    return f"{service.url}/v1", master_key


@pytest.fixture(scope="module")
def proxy_server(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory, litellm: tuple[str, str]
) -> Iterator[ServerThread]:
    base_url, master_key = litellm
    tenants = directory(
        *(
            make_tenant(
                engine,
                [f"{engine}.litellm.test"],
                engine=engine,
                base_url=base_url,
                api_key=master_key,
                model="gpt-4.1-mini",  # the one model bench/litellm.yaml routes
                tools=["lookup", "capture_lead"],
                lead_recipients=["sales@litellm.test"],
                client_keys=(f"{CLIENT_KEY}-{engine}",),
            )
            for engine in ENGINES
        )
    )
    settings = make_settings(pg_url, Path(tmp_path_factory.mktemp("proxy")), provider_max_retries=0)
    with ServerThread(create_app(settings, tenants=tenants, tools=scripted_tools(default_tools()))) as server:
        yield server


def marker() -> str:
    return f"m{secrets.token_hex(4)}"


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_plain_reply_and_the_next_turn_carries_it(
    proxy_server: ServerThread, simulator: SimulatorServer, engine: str
) -> None:
    first, second = marker(), marker()
    async with client_for(proxy_server.url, f"{engine}.litellm.test") as http:
        thread_id = await new_thread(http)
        one = await turn(http, thread_id, f"[[reply:Hello through LiteLLM, {first}.]] I am {first}.")
        two = await turn(http, thread_id, f"[[reply:Welcome back.]] Who am I? {second}")

    assert names(one)[-2:] == ["run.completed", "done"], one
    assert text_of(one) == f"Hello through LiteLLM, {first}."
    assert text_of(two) == "Welcome back."
    seen = seen_by_model(simulator, second)
    assert f"I am {first}." in seen and f"Hello through LiteLLM, {first}." in seen
    if engine == "responses":  # no Conversations API behind LiteLLM, but stored responses
        assert context_way(simulator, second) == "previous_response"


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_tool_call(proxy_server: ServerThread, engine: str) -> None:
    word = marker()
    async with client_for(proxy_server.url, f"{engine}.litellm.test") as http:
        events = await turn(http, await new_thread(http), f'[[tool:lookup {{"word": "{word}"}}]] Look it up.')

    started = [data for name, data, _ in events if name == "tool.started"]
    finished = [data for name, data, _ in events if name == "tool.finished"]
    assert [d["name"] for d in started] == ["lookup"] and finished[0]["ok"] is True
    assert started[0]["call_id"] == finished[0]["call_id"]
    assert f'"word":"{word}"' in text_of(events) and f'"tenant":"{engine}"' in text_of(events)
    assert names(events)[-2:] == ["run.completed", "done"]


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_lead_is_captured(proxy_server: ServerThread, engine: str) -> None:
    email = f"ada-{marker()}@example.com"
    args = f'{{"name": "Ada Lovelace", "email": "{email}", "message": "Please call me about the teapot."}}'
    async with client_for(proxy_server.url, f"{engine}.litellm.test") as http:
        events = await turn(http, await new_thread(http), f"[[tool:capture_lead {args}]] Here are my details.")
    async with httpx.AsyncClient(base_url=proxy_server.url, timeout=10) as admin:
        leads = await admin.get("/v1/admin/leads", headers={"Authorization": f"Bearer {CLIENT_KEY}-{engine}"})

    captured: list[dict[str, Any]] = [data for name, data, _ in events if name == "lead.captured"]
    assert len(captured) == 1 and captured[0]["status"] == "saved"
    assert email in captured[0]["message"]
    assert names(events)[-2:] == ["run.completed", "done"]
    assert leads.status_code == 200
    assert [lead["email"] for lead in leads.json()["leads"]] == [email]
