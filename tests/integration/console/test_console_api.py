"""The console's API over a real server: who may use it, and a takeover from the handoff to the hand-back.

The proxy runs in uvicorn over the test Postgres with the real engine talking to the simulator, so
"the assistant stays silent" is checked where it matters: no request reaches the provider.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from litestar.testing import AsyncTestClient

from proxy.app import create_app
from proxy.console.marks import prune
from proxy.console.takeover import hand_back, take_over
from proxy.leads.tools import register_lead_tools
from proxy.limits.settings import LimitSettings
from proxy.simulator import ServerThread, SimulatorServer
from proxy.store.db import Database
from proxy.store.threads import ThreadStore
from proxy.tools.registry import ToolRegistry
from proxy.visitors import Visitor
from tests.support.apps import directory, make_settings, make_tenant, sse_events
from tests.support.console import Staff, following, sign_in

SECRET = "console-identity-secret-of-at-least-32b"
OTHER_SECRET = "other-identity-secret-of-at-least-32-b"
SHOP = {"Origin": "http://shop.test", "X-Visitor-Id": "visitor-console-1"}


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer() as sim:
        yield sim


@pytest.fixture(scope="module")
def server(pg_url: str, tmp_path_factory: pytest.TempPathFactory, simulator: SimulatorServer) -> Iterator[str]:
    tools = ToolRegistry()
    register_lead_tools(tools)
    tenants = directory(
        make_tenant(
            "shop",
            ["shop.test"],
            client_keys=("ck_console_shop",),
            identity_secret=SECRET,
            base_url=simulator.base_url,
            api_key="sk-sim",
            tools=["capture_lead", "escalate_to_human"],
        ),
        make_tenant(
            "other",
            ["other.test"],
            client_keys=("ck_console_other",),
            identity_secret=OTHER_SECRET,
            base_url=simulator.base_url,
            api_key="sk-sim",
        ),
    )
    settings = make_settings(pg_url, tmp_path_factory.mktemp("console"), heartbeat_interval=0.5)
    with ServerThread(create_app(settings, tenants=tenants, tools=tools)) as running:
        yield running.url


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=20) as client:
        yield client


@pytest.fixture
async def staff(server: str) -> AsyncIterator[Staff]:
    async with httpx.AsyncClient(base_url=server, timeout=20) as client:
        yield await sign_in(client, client_key="ck_console_shop", name="Sam")


def staff_token(secret: str, tenant: str, *, role: str | None = "staff", sub: str = "u-1") -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "email": f"{sub}@shop.test", "aud": tenant, "iat": now, "exp": now + 600}
    if role:
        claims["role"] = role
    return jwt.encode(claims, secret, algorithm="HS256")


async def visitor_says(http: httpx.AsyncClient, thread_id: str, text: str) -> list[tuple[str, dict[str, Any], Any]]:
    response = await http.post(f"/v1/threads/{thread_id}/messages", json={"content": text}, headers=SHOP)
    assert response.status_code == 200, response.text
    return sse_events(response.text)


async def new_thread(http: httpx.AsyncClient) -> str:
    response = await http.post("/v1/threads", headers=SHOP)
    assert response.status_code == 201
    thread_id: str = response.json()["thread_id"]
    return thread_id


async def sim_requests(simulator: SimulatorServer, http: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await http.get(f"{simulator.root_url}/_sim/requests")
    requests: list[dict[str, Any]] = response.json()["requests"]
    return [r for r in requests if r["path"].endswith(("/responses", "/chat/completions"))]


# -- access ----------------------------------------------------------------------------------------


async def test_console_api_needs_a_session(http: httpx.AsyncClient) -> None:
    for path in ("/console/api/me", "/console/api/inbox", "/console/api/dashboard", "/console/api/threads/thr_x"):
        response = await http.get(path)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "unauthenticated"
    http.cookies.set("proxy_console", "forged-value", path="/console")
    forged = await http.get("/console/api/inbox")
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "session_expired"


async def test_sign_in_refuses_wrong_credentials(http: httpx.AsyncClient, server: str) -> None:
    same = {"Origin": server}
    cases = [
        ({"client_key": "ck_wrong"}, 401, "invalid_client_key"),
        ({}, 401, "unauthenticated"),
        (
            {"identity_token": staff_token("not-the-secret-of-the-shop-tenant-xx", "shop")},
            401,
            "invalid_identity_token",
        ),
        ({"identity_token": staff_token(SECRET, "shop", role=None)}, 403, "not_staff"),
        ({"identity_token": staff_token(SECRET, "nobody")}, 401, "invalid_identity_token"),
    ]
    for body, status, code in cases:
        response = await http.post("/console/api/session", json=body, headers=same)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
    assert "set-cookie" not in response.headers


async def test_session_cookie_is_http_only_and_same_site(http: httpx.AsyncClient, server: str) -> None:
    response = await http.post(
        "/console/api/session", json={"client_key": "ck_console_shop", "name": "Kim"}, headers={"Origin": server}
    )
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    assert "ck_console_shop" not in cookie
    assert (await http.get("/console/api/me")).json()["name"] == "Kim"
    signed_out = await http.post(
        "/console/api/session/end", json={}, headers={"Origin": server, "X-CSRF-Token": response.json()["csrf_token"]}
    )
    assert signed_out.status_code == 200
    assert (await http.get("/console/api/me")).status_code == 401


async def test_staff_identity_token_signs_in(http: httpx.AsyncClient) -> None:
    staff = await sign_in(http, identity_token=staff_token(SECRET, "shop", sub="ada"), name="Ada")
    assert staff.me["tenant"] == "shop" and staff.me["staff_id"] == "user:ada" and staff.me["name"] == "Ada"


async def test_cross_site_and_csrf_less_posts_are_refused(http: httpx.AsyncClient, staff: Staff) -> None:
    thread_id = await new_thread(http)
    path = f"/console/api/threads/{thread_id}/takeover"
    no_token = await staff.client.post(path, json={}, headers={"Origin": staff.headers()["Origin"]})
    assert (no_token.status_code, no_token.json()["error"]["code"]) == (403, "csrf_failed")
    evil = await staff.client.post(path, json={}, headers={**staff.headers(), "Origin": "https://evil.test"})
    assert (evil.status_code, evil.json()["error"]["code"]) == (403, "cross_site")
    fetched = await staff.client.post(path, json={}, headers={"Sec-Fetch-Site": "cross-site"})
    assert fetched.status_code == 403
    login = await http.post(
        "/console/api/session", json={"client_key": "ck_console_shop"}, headers={"Origin": "https://evil.test"}
    )
    assert (login.status_code, login.json()["error"]["code"]) == (403, "cross_site")
    assert (await staff.get(f"/threads/{thread_id}")).json()["holder"] is None


async def test_other_tenants_staff_sees_nothing_of_ours(http: httpx.AsyncClient, server: str) -> None:
    thread_id = await new_thread(http)
    await visitor_says(http, thread_id, "Can I talk to a human? [[reply:Of course.]]")
    async with httpx.AsyncClient(base_url=server, timeout=20) as client:
        other = await sign_in(client, client_key="ck_console_other", name="Eve")
        assert (await other.get(f"/threads/{thread_id}")).status_code == 404
        assert (await other.post(f"/threads/{thread_id}/takeover")).status_code == 404
        assert (await other.post(f"/threads/{thread_id}/messages", {"content": "hi"})).status_code == 404
        assert (await other.get(f"/threads/{thread_id}/live")).status_code == 404
        inbox = (await other.get("/inbox")).json()["handoffs"]
        assert thread_id not in {item["thread_id"] for item in inbox}
    async with httpx.AsyncClient(base_url=server, timeout=20) as client:
        other_staff = await sign_in(client, identity_token=staff_token(OTHER_SECRET, "other", sub="eve"))
        assert (await other_staff.get(f"/threads/{thread_id}")).status_code == 404


# -- a takeover ------------------------------------------------------------------------------------


async def test_takeover_round_trip(
    http: httpx.AsyncClient, staff: Staff, server: str, simulator: SimulatorServer
) -> None:
    thread_id = await new_thread(http)
    events = await visitor_says(http, thread_id, "I want to talk to a person please [[reply:Let me get someone.]]")
    assert "handoff" in [name for name, _, _ in events]

    inbox = (await staff.get("/inbox")).json()["handoffs"]
    assert inbox[0]["thread_id"] == thread_id and "asked for a human" in inbox[0]["reason"]

    async with (
        following(http, f"/v1/threads/{thread_id}/live", headers=SHOP) as widget,
        following(staff.client, f"/console/api/threads/{thread_id}/live") as console,
    ):
        taken = await staff.post(f"/threads/{thread_id}/takeover")
        assert taken.status_code == 200 and taken.json()["holder"]["name"] == "Sam"
        joined = await widget.wait_for("human.joined")
        assert joined[0]["name"] == "Sam"

        async with httpx.AsyncClient(base_url=server, timeout=20) as client:  # a colleague
            kim = await sign_in(client, client_key="ck_console_shop", name="Kim")
            refused = await kim.post(f"/threads/{thread_id}/takeover")
            assert refused.status_code == 409 and refused.json()["error"]["holder"]["name"] == "Sam"
            assert (await kim.post(f"/threads/{thread_id}/messages", {"content": "me too"})).status_code == 409

        before = len(await sim_requests(simulator, http))
        held = await visitor_says(http, thread_id, "Is the blue kettle back in stock? marker-held-1")
        assert [name for name, _, _ in held] == ["human.holding", "done"]
        seen = await console.wait_for("message", count=3)
        assert seen[-1]["role"] == "user" and "marker-held-1" in seen[-1]["content"]

        sent = await staff.post(f"/threads/{thread_id}/messages", {"content": "Yes, since Monday. marker-staff-1"})
        assert sent.status_code == 201
        said = await widget.wait_for("human.message")
        assert said[0]["author"] == "Sam" and "marker-staff-1" in said[0]["content"]
        assert len(await sim_requests(simulator, http)) == before  # the assistant stayed silent

        assert (await staff.post(f"/threads/{thread_id}/handback")).status_code == 200
        await widget.wait_for("human.left")

    history = (await http.get(f"/v1/threads/{thread_id}/messages", headers=SHOP)).json()["messages"]
    assert [m["role"] for m in history][-2:] == ["user", "human"] and history[-1]["author"] == "Sam"

    back = await visitor_says(http, thread_id, "Great, then I'll take two. [[reply:Lovely choice.]]")
    assert "message.completed" in [name for name, _, _ in back]
    sent_to_model = (await sim_requests(simulator, http))[-1]
    body = str(sent_to_model["body"])
    assert "marker-held-1" in body and "marker-staff-1" in body and "Sam (staff)" in body
    again = await visitor_says(http, thread_id, "And a third? [[reply:Sure.]]")
    assert "message.completed" in [name for name, _, _ in again]
    assert "marker-staff-1" not in str((await sim_requests(simulator, http))[-1]["body"])  # told once


async def test_staff_cannot_write_without_holding(http: httpx.AsyncClient, staff: Staff) -> None:
    thread_id = await new_thread(http)
    refused = await staff.post(f"/threads/{thread_id}/messages", {"content": "hello"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "not_holder")
    assert (await staff.post(f"/threads/{thread_id}/handback")).status_code == 409
    assert (await staff.post(f"/threads/{thread_id}/takeover")).status_code == 200
    empty = await staff.post(f"/threads/{thread_id}/messages", {"content": "   "})
    assert (empty.status_code, empty.json()["error"]["code"]) == (400, "empty_message")
    assert (await staff.post(f"/threads/{thread_id}/messages", {"content": "x" * 5000})).status_code == 400


async def test_search_finds_recent_conversations(http: httpx.AsyncClient, staff: Staff) -> None:
    thread_id = await new_thread(http)
    await visitor_says(http, thread_id, "Do you sell walnut-burl-cutting-boards? [[reply:Not yet.]]")
    found = (await staff.get("/conversations?q=walnut-burl")).json()["conversations"]
    assert [c["thread_id"] for c in found] == [thread_id]
    assert (await staff.get("/conversations?q=" + "100%25_literal")).json()["conversations"] == []
    assert thread_id in {c["thread_id"] for c in (await staff.get("/conversations")).json()["conversations"]}


def test_console_page_is_served_with_a_strict_policy(server: str) -> None:
    response = httpx.get(f"{server}/console")
    assert response.status_code == 200 and '<form id="signin-form"' in response.text
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert httpx.get(f"{server}/console/static/console.js").status_code == 200
    assert httpx.get(f"{server}/console/static/../routes.py").status_code == 404


BAD_IDS = ["%00'", "..%2F..%2Fetc", "x" * 300, "thr_%0d%0aSet-Cookie:%20a=b", "%ff%fe"]
BAD_BODIES = [b"", b"null", b"[]", b"{", b'{"content": 7}', b'{"content": "a\\u0000b"}', b'{"content": "hi", "x": 1}']


async def test_bad_input_gets_a_json_4xx(http: httpx.AsyncClient, staff: Staff) -> None:
    answers: list[httpx.Response] = []
    for bad in BAD_IDS:
        answers.append(await http.get(f"/v1/threads/{bad}/live", headers=SHOP))
        answers.append(await http.post(f"/v1/threads/{bad}/messages", json={"content": "hi"}, headers=SHOP))
        answers.append(await staff.get(f"/threads/{bad}"))
        answers.append(await staff.get(f"/threads/{bad}/live"))
        for action in ("takeover", "handback", "messages"):
            answers.append(await staff.post(f"/threads/{bad}/{action}", {"content": "hi"}))
    thread_id = await new_thread(http)
    await staff.post(f"/threads/{thread_id}/takeover")
    for body in BAD_BODIES:
        for path in (f"/threads/{thread_id}/messages", "/prices", "/session"):
            headers = {**staff.headers(), "Content-Type": "application/json"}
            answers.append(await staff.client.post(f"/console/api{path}", content=body, headers=headers))
        answers.append(
            await http.post(
                f"/v1/threads/{thread_id}/messages", content=body, headers={**SHOP, "Content-Type": "application/json"}
            )
        )
    for query in ("days=0", "days=abc", "days=100000"):
        answers.append(await staff.get(f"/dashboard?{query}"))
    answers.append(await staff.get(f"/threads/{thread_id}/live?after=-1"))
    answers.append(await http.get(f"/v1/threads/{thread_id}/live?after=msg_x", headers=SHOP))
    wrong = [(r.request.url.path, r.status_code, r.text[:120]) for r in answers if not 400 <= r.status_code < 500]
    assert wrong == []
    assert all(r.json()["error"]["code"] for r in answers)


async def test_guessing_sign_ins_are_throttled(pg_url: str, tmp_path: Path) -> None:
    """Wrong keys and tokens count towards the address's failed authentications, as for the API."""
    tenants = directory(make_tenant("shop", ["shop.test"], client_keys=("ck_console_shop",)))
    app = create_app(
        make_settings(pg_url, tmp_path),
        tenants=tenants,
        limit_settings=LimitSettings(_env_file=None, auth_failures_per_ip=3),  # type: ignore[call-arg]
    )
    same = {"Origin": "http://proxy.test"}
    async with AsyncTestClient(app, base_url="http://proxy.test") as client:
        for _ in range(3):
            wrong = await client.post("/console/api/session", json={"client_key": "ck_guess"}, headers=same)
            assert wrong.status_code == 401
        blocked = await client.post("/console/api/session", json={"client_key": "ck_console_shop"}, headers=same)
        assert (blocked.status_code, blocked.json()["error"]["code"]) == (429, "rate_limited")


async def test_a_held_thread_cannot_start_a_turn(database: Database) -> None:
    """Even a message that slipped past the check before the takeover finds the lock refused."""
    store = ThreadStore(database)
    thread = await store.create(tenant="shop", visitor=Visitor(id="v:held-lock"), engine="responses")
    mine, _ = await take_over(database, tenant="shop", thread_id=thread.id, staff_id="user:sam", name="Sam")
    assert mine
    result, _ = await store.lock(
        thread.id, tenant="shop", visitor="v:held-lock", run_id="run_held", lease_seconds=30, user_text="hi"
    )
    assert result == "busy"
    assert await store.messages(thread.id) == []
    assert await hand_back(database, thread_id=thread.id, staff_id="user:sam") is not None
    result, _ = await store.lock(
        thread.id, tenant="shop", visitor="v:held-lock", run_id="run_back", lease_seconds=30, user_text="hi"
    )
    assert result == "acquired"


async def test_old_marks_and_expired_sessions_are_pruned(database: Database) -> None:
    for age, run in ((120, "run_prune_old"), (3, "run_prune_recent")):
        await database.execute(
            "insert into turn_marks (tenant, thread_id, run_id, kind, name, created_at)"
            " values ('prune', 'thr_prune', %s, 'tool', 't', now() - make_interval(days => %s))",
            (run, age),
        )
    for hours, token in ((-1, "expired-prune"), (1, "valid-prune")):
        await database.execute(
            "insert into console_sessions (token_hash, tenant, staff_id, staff_name, csrf, expires_at)"
            " values (%s, 'prune', 's', 'S', 'c', now() + make_interval(hours => %s))",
            (token, hours),
        )
    await prune(database)
    marks = await database.fetch_all("select run_id from turn_marks where tenant = 'prune'")
    sessions = await database.fetch_all("select token_hash from console_sessions where tenant = 'prune'")
    assert [m["run_id"] for m in marks] == ["run_prune_recent"]
    assert [s["token_hash"] for s in sessions] == ["valid-prune"]
