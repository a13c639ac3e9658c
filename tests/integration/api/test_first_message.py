"""A conversation started by its first message, in one request: ``POST /v1/threads`` with ``message``
answers 201 with the reply's event stream, whose first event names the new thread; every check of
creating a thread and of posting a message applies, and nothing is created when one refuses."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from proxy.app import create_app
from proxy.identity import issue_identity_token
from proxy.limits.settings import LimitSettings
from proxy.simulator import ServerThread, SimulatorServer
from proxy.turns.admission import Admission
from tests.integration.api.test_admission import assert_overloaded
from tests.support.admission import HandFedMonitor
from tests.support.apps import directory, make_settings, make_tenant, sse_events
from tests.support.scripted_engine import Engines, scripted_tools

SHOP = {"Origin": "https://shop.test"}
SECRET = "identity-secret-of-the-shop-tenant-32b"  # the shop tenant's, in conftest.py


def visitor() -> dict[str, str]:
    return {**SHOP, "X-Visitor-Id": f"first-{secrets.token_hex(6)}"}


async def start(client: Any, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return await client.post("/v1/threads", json=body, headers=headers)


async def listed(client: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/v1/threads", headers=headers)
    assert response.status_code == 200, response.text
    threads: list[dict[str, Any]] = response.json()["threads"]
    return threads


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


# -- with the simulator, over real HTTP ------------------------------------------------------------


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer() as sim:
        yield sim


@pytest.fixture(scope="module")
def served(pg_url: str, tmp_path_factory: pytest.TempPathFactory, simulator: SimulatorServer) -> Iterator[ServerThread]:
    tenants = directory(
        *(
            make_tenant(engine, [f"{engine}.test"], engine=engine, base_url=simulator.base_url)
            for engine in ("chat", "responses")
        )
    )
    settings = make_settings(pg_url, Path(tmp_path_factory.mktemp("first")), provider_max_retries=0)
    with ServerThread(create_app(settings, tenants=tenants)) as server:
        yield server


@pytest.mark.parametrize("engine", ["chat", "responses"])
async def test_the_first_message_creates_its_thread_and_streams_the_reply(
    served: ServerThread, simulator: SimulatorServer, engine: str
) -> None:
    headers = {"Origin": f"https://{engine}.test", "X-Visitor-Id": f"first-{secrets.token_hex(6)}"}
    async with httpx.AsyncClient(base_url=served.url, headers=headers, timeout=20) as http:
        response = await http.post(
            "/v1/threads", json={"message": "[[reply:Hello from the shop]]", "page_url": "https://x.test/p"}
        )
        assert response.status_code == 201, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.text)
        name, started, _ = events[0]
        assert name == "run.started"
        thread_id = started["thread_id"]
        assert thread_id.startswith("thr_")
        assert response.headers["location"] == f"/v1/threads/{thread_id}"
        assert [n for n, _, _ in events][-3:] == ["message.completed", "run.completed", "done"]
        assert "".join(d["delta"] for n, d, _ in events if n == "message.delta") == "Hello from the shop"

        # the thread is the visitor's like any other: listed, with its messages, and it takes the next one
        assert [t["thread_id"] for t in (await http.get("/v1/threads")).json()["threads"]] == [thread_id]
        history = (await http.get(f"/v1/threads/{thread_id}/messages")).json()["messages"]
        assert [(m["role"], m["content"]) for m in history] == [
            ("user", "[[reply:Hello from the shop]]"),
            ("assistant", "Hello from the shop"),
        ]
        second = await http.post(f"/v1/threads/{thread_id}/messages", json={"content": "[[reply:again]]"})
        assert second.status_code == 200
        assert sse_events(second.text)[-1][0] == "done"
        # another visitor of the same site does not see it
        other = await http.get(f"/v1/threads/{thread_id}/messages", headers={"X-Visitor-Id": "someone-else-1"})
        assert other.status_code == 404


async def test_the_two_step_start_still_works(served: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=served.url, headers={"Origin": "https://chat.test"}, timeout=20) as http:
        created = await http.post("/v1/threads", json={})
        assert created.status_code == 201
        assert created.headers["content-type"].startswith("application/json")
        thread_id = created.json()["thread_id"]
        reply = await http.post(f"/v1/threads/{thread_id}/messages", json={"content": "[[reply:ok]]"})
        assert sse_events(reply.text)[0][1]["thread_id"] == thread_id


# -- refusals, with the scripted engine (the api conftest's app) ------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ({"message": "say:hi"}, {"Origin": "https://evil.test"}, 403, "unknown_origin"),
        ({"message": "say:hi"}, {}, 401, "unauthenticated"),
        ({"message": "say:hi"}, {"Authorization": "Bearer ck_wrong"}, 401, "invalid_client_key"),
        ({"message": "say:hi", "identity_token": "not-a-token"}, SHOP, 401, "invalid_identity_token"),
        ({"message": "say:hi"}, {**SHOP, "X-Identity-Token": "not-a-token"}, 401, "invalid_identity_token"),
        ({"message": "x" * 201}, SHOP, 413, "message_too_long"),
        ({"message": "  "}, SHOP, 400, "empty_message"),
        ({"message": "say:a\u0000b"}, SHOP, 400, "invalid_message"),
        ({"message": "say:hi", "page_url": "https://x.test/\u0000"}, SHOP, 400, "invalid_request"),
        ({"message": 5}, SHOP, 400, "invalid_request"),
        ({"message": "say:hi", "extra": 1}, SHOP, 400, "invalid_request"),
    ],
)
async def test_bad_first_messages_are_refused_and_create_nothing(
    client: AsyncTestClient, engines: Engines, body: dict[str, Any], headers: dict[str, str], status: int, code: str
) -> None:
    response = await start(client, body, {**headers, "X-Visitor-Id": "first-refused-1"})
    assert_error(response, status, code)
    assert "shop" not in engines or engines["shop"].turns == []
    assert await listed(client, {**SHOP, "X-Visitor-Id": "first-refused-1"}) == []


async def test_a_client_key_starts_a_conversation_without_an_origin(client: AsyncTestClient) -> None:
    response = await start(client, {"message": "say:from the server"}, {"Authorization": "Bearer ck_shop_secret"})
    assert response.status_code == 201
    assert sse_events(response.text)[-1][0] == "done"


async def test_a_signed_in_visitor_s_first_thread_is_bound_to_them(client: AsyncTestClient) -> None:
    browser = visitor()
    # a user of this test's own (the database is shared with other tests' signed-in visitors)
    user = f"ana-{uuid.uuid4().hex[:8]}"
    ana = issue_identity_token(secret=SECRET, tenant="shop", sub=user, email="ana@example.com")
    bob = issue_identity_token(secret=SECRET, tenant="shop", sub="bob")
    # the token in the header (as the widget sends it) or in the body (as creating a thread took it)
    for signed_by, body in (({"X-Identity-Token": ana}, {}), ({}, {"identity_token": ana})):
        response = await start(client, {"message": "say:hello", **body}, {**browser, **signed_by})
        assert response.status_code == 201, response.text
        thread_id = sse_events(response.text)[0][1]["thread_id"]
        signed = {**browser, "X-Identity-Token": ana}
        assert (await client.get(f"/v1/threads/{thread_id}/messages", headers=signed)).status_code == 200
        # the same browser signed out, or another user in it: not theirs
        for headers in (browser, {**browser, "X-Identity-Token": bob}):
            assert (await client.get(f"/v1/threads/{thread_id}/messages", headers=headers)).status_code == 404
            posted = await client.post(f"/v1/threads/{thread_id}/messages", json={"content": "say:x"}, headers=headers)
            assert posted.status_code == 404
    # ana's two conversations, from any device she signs in on
    elsewhere = {**SHOP, "X-Visitor-Id": "another-device-1", "X-Identity-Token": ana}
    assert len(await listed(client, elsewhere)) == 2


async def test_the_turn_s_tools_serve_the_signed_in_visitor(client: AsyncTestClient, engines: Engines) -> None:
    ana = issue_identity_token(secret=SECRET, tenant="shop", sub="ana", email="ana@example.com")
    response = await start(client, {"message": "say:hi"}, {**visitor(), "X-Identity-Token": ana})
    assert response.status_code == 201
    context = engines["shop"].turns[-1].tool_context
    assert (context.visitor.user_id, context.visitor.email) == ("ana", "ana@example.com")
    assert context.thread_id == sse_events(response.text)[0][1]["thread_id"]


# -- limits and admission ---------------------------------------------------------------------------


def limited_app(pg_url: str, tmp_path: Path, engines: Engines, monitor: HandFedMonitor | None = None, **limits: int):  # type: ignore[no-untyped-def]
    name = f"fm{uuid.uuid4().hex[:8]}"
    rules = {
        "messages_per_minute_per_visitor": 0,
        "messages_per_minute_per_ip": 0,
        "messages_per_minute_per_tenant": 0,
        "threads_per_hour_per_ip": 0,
    }
    tenants = directory(make_tenant("shop", ["shop.test"], limits={**rules, **limits}))
    return create_app(
        make_settings(pg_url, tmp_path),
        tenants=tenants,
        tools=scripted_tools(),
        engine_factory=engines.factory,
        limit_settings=LimitSettings(_env_file=None, key_prefix=name),  # type: ignore[call-arg]  # memory
        admission=Admission(monitor) if monitor is not None else None,
    )


@pytest.fixture
async def limited(pg_url: str, tmp_path: Path) -> AsyncIterator[tuple[AsyncTestClient, Engines, HandFedMonitor]]:
    engines, monitor = Engines(), HandFedMonitor(0.2)
    app = limited_app(pg_url, tmp_path, engines, monitor, threads_per_hour_per_ip=2, messages_per_minute_per_visitor=1)
    async with AsyncTestClient(app, base_url="http://proxy.test") as test_client:
        yield test_client, engines, monitor


async def test_the_message_limit_applies(limited: tuple[AsyncTestClient, Engines, HandFedMonitor]) -> None:
    client, engines, _ = limited
    browser = visitor()
    assert (await start(client, {"message": "say:one"}, browser)).status_code == 201
    refused = await start(client, {"message": "say:two"}, browser)
    assert_error(refused, 429, "rate_limited")
    assert refused.headers["retry-after"]
    assert len(await listed(client, browser)) == 1
    assert [t.user_text for t in engines["shop"].turns] == ["say:one"]


async def test_the_thread_limit_applies(limited: tuple[AsyncTestClient, Engines, HandFedMonitor]) -> None:
    client, engines, _ = limited
    first, second, third = visitor(), visitor(), visitor()
    assert (await start(client, {"message": "say:one"}, first)).status_code == 201
    assert (await client.post("/v1/threads", headers=second)).status_code == 201  # the two-step way counts too
    refused = await start(client, {"message": "say:three"}, third)
    assert_error(refused, 429, "rate_limited")
    assert await listed(client, third) == []
    assert [t.user_text for t in engines["shop"].turns] == ["say:one"]


async def test_an_overloaded_worker_refuses_before_counting_or_creating(
    limited: tuple[AsyncTestClient, Engines, HandFedMonitor],
) -> None:
    client, engines, monitor = limited
    browser = visitor()
    monitor.overload()
    for _ in range(3):  # more than the limits allow: refusals count against none of them
        assert_overloaded(await start(client, {"message": "say:hi"}, browser), "loop_lag")
    assert engines["shop"].turns == []
    assert await listed(client, browser) == []
    # a bad message is still told so, not to come back later
    assert_error(await start(client, {"message": " "}, browser), 400, "empty_message")
    monitor.recover()
    accepted = await start(client, {"message": "say:back"}, browser)
    assert accepted.status_code == 201
    assert sse_events(accepted.text)[-1][0] == "done"
    assert len(await listed(client, browser)) == 1


async def test_a_draining_worker_refuses_with_shutting_down(
    limited: tuple[AsyncTestClient, Engines, HandFedMonitor],
) -> None:
    client, engines, _ = limited
    browser = visitor()
    await client.app.state.services.turns.drain(0)
    refused = await start(client, {"message": "say:hi"}, browser)
    assert_error(refused, 503, "shutting_down")
    assert refused.headers["retry-after"]
    assert engines["shop"].turns == []
    assert await listed(client, browser) == []


async def test_the_schema_documents_the_first_message(client: AsyncTestClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    create = schema["paths"]["/v1/threads"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    ref = next((s["$ref"] for s in body.get("oneOf", [body]) if "$ref" in s), None)
    fields = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"] if ref else body["properties"]
    assert {"identity_token", "message", "page_url"} <= set(fields)


EVIL = {"Origin": "https://evil.test"}


@pytest.mark.parametrize(
    ("send", "status", "code"),
    [
        ({"json": {"message": 5}}, 403, "unknown_origin"),
        ({"json": {"message": "x" * 201}}, 403, "unknown_origin"),
        ({"json": {"message": "say:hi", "extra": 1}}, 403, "unknown_origin"),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "invalid_request"),
    ],
)
async def test_a_bad_origin_with_a_bad_body_keeps_which_comes_first(
    client: AsyncTestClient, send: dict[str, Any], status: int, code: str
) -> None:
    """The caller is checked before the body's fields, after the body is read as JSON: for a first
    message and for a thread's next one alike (the order the answer's status depends on)."""
    headers = {**EVIL, **send.get("headers", {})}
    content = {key: value for key, value in send.items() if key != "headers"}
    assert_error(await client.post("/v1/threads", headers=headers, **content), status, code)
    created = await client.post("/v1/threads", json={}, headers=SHOP)
    next_content = {"json": {"content": 5}} if "json" in content else content
    thread_id = created.json()["thread_id"]
    response = await client.post(f"/v1/threads/{thread_id}/messages", headers=headers, **next_content)
    assert_error(response, status, code)
