"""Each engine and each way of keeping context, through the proxy, against servers that offer
different things: the Conversations API on or off, stored responses on or off.

client -> proxy (uvicorn) -> engine -> simulator (uvicorn). What the provider's model saw is read
from the simulator (its request log and what it keeps), so "the second turn carries the first" is
checked where it matters, not from the reply's wording.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proxy.app import create_app
from proxy.simulator import ServerThread, SimulatorConfig, SimulatorServer
from tests.support.apps import directory, make_settings, make_tenant
from tests.support.chats import (
    client_for,
    context_way,
    error_of,
    names,
    new_thread,
    seen_by_model,
    stalls_ended,
    stopped_turn,
    text_of,
    turn,
)
from tests.support.scripted_engine import scripted_tools
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

# what each simulated server offers: (Conversations API, stored responses)
SERVERS = {
    "openai": (True, True),  # OpenAI
    "no-conversations": (False, True),  # LiteLLM in front of a storing server, vLLM with its store on
    "no-store": (True, False),
    "bare": (False, False),  # Ollama, vLLM without a store
}
# how each tenant is set up: engine, and the responses engine's context setting
SETUPS = {
    "chat": ("chat", None),
    "assistants": ("assistants", None),
    "auto": ("responses", None),
    "conversations": ("responses", "conversations"),
    "previous-response": ("responses", "previous_response"),
    "history": ("responses", "history"),
}
AUTO_FINDS = {"openai": "conversations", "no-conversations": "previous_response", "no-store": "conversations"}
AUTO_FINDS["bare"] = "history"
# what works: conversations needs the API; a chain on a server that stores nothing falls back to history
CASES = [
    (server, setup)
    for server in SERVERS
    for setup in SETUPS
    if not (setup == "conversations" and not SERVERS[server][0])
]


def way_used(server: str, setup: str) -> str | None:
    """The context mode the Responses request should show (None: not the responses engine)."""
    engine, context = SETUPS[setup]
    if engine != "responses":
        return None
    if context is None:
        return AUTO_FINDS[server]
    if context == "previous_response" and not SERVERS[server][1]:
        return "history"  # the chain is unknown to the server: the stored history goes instead
    return context


def host(server: str, setup: str) -> str:
    return f"{setup}.{server}.test"


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, SimulatorServer]]:
    sims = {
        name: SimulatorServer(SimulatorConfig(conversations_api=conv, store_responses=store))
        for name, (conv, store) in SERVERS.items()
    }
    for sim in sims.values():
        sim.start()
    try:
        yield sims
    finally:
        for sim in sims.values():
            sim.stop()


@pytest.fixture(scope="module")
def proxy_server(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory, servers: dict[str, SimulatorServer]
) -> Iterator[ServerThread]:
    tenants = []
    for server, sim in servers.items():
        for setup, (engine, context) in SETUPS.items():
            extra = {"context": context} if context else {}
            tenants.append(
                make_tenant(
                    f"{setup}-{server}",
                    [host(server, setup)],
                    engine=engine,
                    base_url=sim.base_url,
                    tools=["lookup"],
                    max_tool_rounds=3,
                    **extra,
                )
            )
    settings = make_settings(
        pg_url, Path(tmp_path_factory.mktemp("context")), provider_max_retries=0, disconnect_grace=0
    )
    with ServerThread(create_app(settings, tenants=directory(*tenants), tools=scripted_tools())) as server:
        yield server


def marker() -> str:
    return f"m{secrets.token_hex(4)}"


@pytest.mark.parametrize(("server", "setup"), CASES)
async def test_the_second_turn_carries_the_first(
    proxy_server: ServerThread, servers: dict[str, SimulatorServer], server: str, setup: str
) -> None:
    sim, first, second = servers[server], marker(), marker()
    async with client_for(proxy_server.url, host(server, setup)) as http:
        thread_id = await new_thread(http)
        one = await turn(http, thread_id, f"[[reply:Noted, {first}-reply.]] My code is {first}.")
        two = await turn(http, thread_id, f"[[reply:Sure.]] What was my code? {second}")

    assert names(one)[-2:] == ["run.completed", "done"] and text_of(one) == f"Noted, {first}-reply."
    assert names(two)[-2:] == ["run.completed", "done"] and text_of(two) == "Sure."
    seen = seen_by_model(sim, second)
    assert f"My code is {first}." in seen and f"Noted, {first}-reply." in seen
    if (way := way_used(server, setup)) is not None:
        assert context_way(sim, second) == way


@pytest.mark.parametrize(("server", "setup"), CASES)
async def test_a_tool_call_runs_and_the_next_turn_knows_its_answer(
    proxy_server: ServerThread, servers: dict[str, SimulatorServer], server: str, setup: str
) -> None:
    sim, word, after = servers[server], marker(), marker()
    async with client_for(proxy_server.url, host(server, setup)) as http:
        thread_id = await new_thread(http)
        called = await turn(http, thread_id, f'[[tool:lookup {{"word": "{word}"}}]] Look it up.')
        later = await turn(http, thread_id, f"[[reply:ok]] And now? {after}")

    started = [data for name, data, _ in called if name == "tool.started"]
    finished = [data for name, data, _ in called if name == "tool.finished"]
    assert [d["name"] for d in started] == ["lookup"] and finished[0]["ok"] is True
    assert names(called)[-2:] == ["run.completed", "done"]
    assert f'"word":"{word}"' in text_of(called)  # the model quoted the tool's output
    assert names(later)[-2:] == ["run.completed", "done"]
    assert word in seen_by_model(sim, after)


@pytest.mark.parametrize(("server", "setup"), CASES)
async def test_stop_ends_the_turn_and_the_thread_goes_on(
    proxy_server: ServerThread, servers: dict[str, SimulatorServer], server: str, setup: str
) -> None:
    sim, first, after = servers[server], marker(), marker()
    async with client_for(proxy_server.url, host(server, setup)) as http:
        thread_id = await new_thread(http)
        await turn(http, thread_id, f"[[reply:ok]] Remember {first}.")
        stopped = await stopped_turn(http, thread_id, "[[fault:stall]] Tell me a long story.")
        # the provider hears of it when the connection closes; a conversation is busy till then
        await stalls_ended(sim)
        later = await turn(http, thread_id, f"[[reply:back]] Still there? {after}")

    assert error_of(stopped)["code"] == "cancelled"
    assert names(later)[-2:] == ["run.completed", "done"] and text_of(later) == "back"
    assert f"Remember {first}." in seen_by_model(sim, after)


@pytest.mark.parametrize(("server", "setup"), CASES)
async def test_a_provider_failure_is_reported_and_the_thread_goes_on(
    proxy_server: ServerThread, servers: dict[str, SimulatorServer], server: str, setup: str
) -> None:
    sim, first, after = servers[server], marker(), marker()
    async with client_for(proxy_server.url, host(server, setup)) as http:
        thread_id = await new_thread(http)
        await turn(http, thread_id, f"[[reply:ok]] Remember {first}.")
        failed = await turn(http, thread_id, "[[fault:500]] Hello?")
        later = await turn(http, thread_id, f"[[reply:recovered]] Hello again {after}")

    error = error_of(failed)
    assert (error["code"], error["retryable"]) == ("upstream_unavailable", True)
    assert text_of(later) == "recovered"
    assert f"Remember {first}." in seen_by_model(sim, after)


KEY = "ck-operator"


def operator_client(base_url: str) -> httpx.AsyncClient:
    """The tenant's own server: a client key, no browser origin."""
    return httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)


@pytest.mark.parametrize("server", ["no-conversations", "bare"])
async def test_conversations_asked_of_a_server_without_them_says_what_to_change(
    pg_url: str, tmp_path: Path, servers: dict[str, SimulatorServer], server: str
) -> None:
    tenant = make_tenant(
        "strict", ["strict.test"], base_url=servers[server].base_url, context="conversations", client_keys=(KEY,)
    )
    settings = make_settings(pg_url, tmp_path, provider_max_retries=0)
    with ServerThread(create_app(settings, tenants=directory(tenant), tools=scripted_tools())) as proxy:
        async with client_for(proxy.url, "strict.test") as http:
            visitor_sees = error_of(await turn(http, await new_thread(http), "Hello"))
        async with operator_client(proxy.url) as http:  # the shop's own server, with its client key
            events = await turn(http, await new_thread(http), "Hello")

    # a visitor learns only that the assistant is unavailable; the shop's operator learns what to change
    assert visitor_sees["code"] == "upstream_not_found" and "Conversations" not in visitor_sees["message"]
    error = error_of(events)
    assert error["code"] == "upstream_not_found"
    assert "has no Conversations API (POST /conversations answered 404)" in error["message"]
    assert servers[server].base_url in error["message"]
    assert 'context = "auto"' in error["message"]


async def test_start_up_logs_the_mode_found_and_what_a_setting_lacks(
    pg_url: str, tmp_path: Path, servers: dict[str, SimulatorServer], caplog: pytest.LogCaptureFixture
) -> None:
    tenants = [
        make_tenant(f"auto-{name}", [f"auto.{name}.test"], base_url=sim.base_url) for name, sim in servers.items()
    ]
    tenants.append(make_tenant("strict", ["strict.test"], base_url=servers["bare"].base_url, context="conversations"))
    tenants.append(
        make_tenant("chain", ["chain.test"], base_url=servers["no-store"].base_url, context="previous_response")
    )
    settings = make_settings(pg_url, tmp_path)
    caplog.set_level(logging.INFO, logger="proxy.engines")

    def tenant_lines() -> dict[str, logging.LogRecord]:
        return {r.tenant: r for r in caplog.records if getattr(r, "tenant", None) and r.name == "proxy.engines.checks"}

    with ServerThread(create_app(settings, tenants=directory(*tenants), tools=scripted_tools())):

        async def all_checked() -> bool:
            return len(tenant_lines()) == len(tenants)

        await eventually(all_checked)

    lines = tenant_lines()
    for name, mode in AUTO_FINDS.items():
        assert lines[f"auto-{name}"].levelno == logging.INFO
        assert f"context: {mode}, found out" in lines[f"auto-{name}"].getMessage()
    assert lines["strict"].levelno == logging.ERROR
    assert "has no Conversations API" in lines["strict"].getMessage()
    assert lines["chain"].levelno == logging.ERROR
    assert "does not store responses" in lines["chain"].getMessage()
    assert 'Set context = "history"' in lines["chain"].getMessage()


RESPONSES_CASES = [(server, setup) for server, setup in CASES if SETUPS[setup][0] == "responses"]


@pytest.mark.parametrize(("server", "setup"), RESPONSES_CASES)
async def test_a_turn_ended_by_the_tool_bound_leaves_the_context_usable(
    proxy_server: ServerThread, servers: dict[str, SimulatorServer], server: str, setup: str
) -> None:
    """The last round's calls get no output from the turn; the next request must still be accepted."""
    sim, first, after = servers[server], marker(), marker()
    async with client_for(proxy_server.url, host(server, setup)) as http:
        thread_id = await new_thread(http)
        await turn(http, thread_id, f"[[reply:ok]] Remember {first}.")
        looped = await turn(http, thread_id, "[[tool-loop:lookup]] Keep looking.")
        later = await turn(http, thread_id, f"[[reply:done looking]] Enough. {after}")

    assert names(looped)[-1] == "done" and names(looped).count("tool.started") <= 3
    assert names(later)[-2:] == ["run.completed", "done"] and text_of(later) == "done looking"
    assert f"Remember {first}." in seen_by_model(sim, after)


async def test_a_chain_the_server_does_not_keep_is_replaced_by_the_history_with_a_warning(
    proxy_server: ServerThread, servers: dict[str, SimulatorServer], caplog: pytest.LogCaptureFixture
) -> None:
    sim, first, after = servers["bare"], marker(), marker()
    async with client_for(proxy_server.url, host("bare", "previous-response")) as http:
        thread_id = await new_thread(http)
        await turn(http, thread_id, f"[[reply:ok]] Remember {first}.")
        later = await turn(http, thread_id, f"[[reply:fine]] Do you? {after}")

    assert text_of(later) == "fine" and f"Remember {first}." in seen_by_model(sim, after)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "does not know response" in w and 'set context = "history" for tenant previous-response-bare' in w
        for w in warnings
    ), warnings


async def test_a_server_that_refuses_the_model_is_not_taken_for_one_without_the_responses_api(
    pg_url: str, tmp_path: Path, servers: dict[str, SimulatorServer]
) -> None:
    base_url = servers["bare"].base_url
    tenant = make_tenant("typo", ["typo.test"], base_url=base_url, model="missing-model", client_keys=(KEY,))
    settings = make_settings(pg_url, tmp_path, provider_max_retries=0)
    with ServerThread(create_app(settings, tenants=directory(tenant), tools=scripted_tools())) as proxy:
        async with operator_client(proxy.url) as http:
            thread_id = await new_thread(http)
            first = await turn(http, thread_id, "Hello")
            again = await turn(http, thread_id, "Hello?")

    for events in (first, again):  # nothing wrong was remembered: asked again, same answer
        error = error_of(events)
        assert error["code"] == "upstream_not_found"
        assert f"The AI provider at {base_url} answered POST /responses for model 'missing-model'" in error["message"]
        assert 'use engine = "chat"' in error["message"] and "check the tenant's model" in error["message"]
