"""Who may see a signed-in customer's conversation is decided on every request: the thread is bound
to the user its token named, and each request must carry a valid token for that user. An expired
token, signing out (no token) or another user's token ends access; so does having only the id."""

from __future__ import annotations

import secrets
import time

import httpx

from proxy.store.db import Database
from tests.integration.hardening.conftest import IDENTITY_SECRET, SHOP_KEY, SHOP_ORIGIN
from tests.integration.hardening.tokens import token


def visitor() -> dict[str, str]:
    return {**SHOP_ORIGIN, "X-Visitor-Id": f"browser-{secrets.token_hex(6)}"}


def signed(headers: dict[str, str], identity: str) -> dict[str, str]:
    return {**headers, "X-Identity-Token": identity}


async def post(http: httpx.AsyncClient, thread_id: str, headers: dict[str, str]) -> httpx.Response:
    return await http.post(f"/v1/threads/{thread_id}/messages", json={"content": "[[reply:ok]]"}, headers=headers)


async def test_a_signed_in_thread_needs_a_valid_token_on_every_request(http: httpx.AsyncClient) -> None:
    browser = visitor()
    ana = token(IDENTITY_SECRET, sub="ana", email="ana@example.com", ttl=600)
    created = await http.post("/v1/threads", json={"identity_token": ana}, headers=browser)
    thread_id = created.json()["thread_id"]
    assert (await post(http, thread_id, signed(browser, ana))).status_code == 200
    # a page view later: a fresh token for the same user works
    fresh = token(IDENTITY_SECRET, sub="ana", email="ana@example.com", iat=time.time() - 5, ttl=300)
    assert (await http.get(f"/v1/threads/{thread_id}/messages", headers=signed(browser, fresh))).status_code == 200

    # the token expired: refused, saying so
    expired = token(IDENTITY_SECRET, sub="ana", iat=time.time() - 700, ttl=600)
    refused = await post(http, thread_id, signed(browser, expired))
    assert refused.status_code == 401 and "expired" in refused.json()["error"]["message"]
    # signed out (the same browser, no token): the thread is gone for it
    for response in (
        await post(http, thread_id, browser),
        await http.get(f"/v1/threads/{thread_id}/messages", headers=browser),
        await http.delete(f"/v1/threads/{thread_id}", headers=browser),
    ):
        assert response.status_code == 404, response.text
    # another user in the same browser
    bob = token(IDENTITY_SECRET, sub="bob")
    assert (await http.get(f"/v1/threads/{thread_id}/messages", headers=signed(browser, bob))).status_code == 404
    # and the history is still there for ana
    history = await http.get(f"/v1/threads/{thread_id}/messages", headers=signed(browser, fresh))
    assert [m["content"] for m in history.json()["messages"]] == ["[[reply:ok]]", "ok"]


async def test_a_server_side_thread_for_a_user_is_not_open_to_browsers(http: httpx.AsyncClient) -> None:
    server = {"Authorization": f"Bearer {SHOP_KEY}"}
    cleo = token(IDENTITY_SECRET, sub="cleo", email="cleo@example.com")
    thread_id = (await http.post("/v1/threads", json={"identity_token": cleo}, headers=server)).json()["thread_id"]
    assert (await post(http, thread_id, signed(server, cleo))).status_code == 200
    # anyone who learns the id (a lead mail, the CSV export, an access log) gets nothing
    for headers in (SHOP_ORIGIN, visitor(), server):
        assert (await http.get(f"/v1/threads/{thread_id}/messages", headers=headers)).status_code == 404
        assert (await post(http, thread_id, headers)).status_code == 404


async def test_a_thread_bound_the_old_way_still_needs_its_user(http: httpx.AsyncClient, database: Database) -> None:
    """A row written before bindings named the user (the migration rebinds them; this is the guard)."""
    browser = visitor()
    thread_id = f"thr_legacy{secrets.token_hex(8)}"
    await database.execute(
        "insert into threads (id, tenant, visitor, visitor_kind, visitor_user_id, engine)"
        " values (%s, 'shop', %s, 'identified', 'dan', 'responses')",
        (thread_id, f"v:{browser['X-Visitor-Id']}"),
    )
    assert (await post(http, thread_id, browser)).status_code == 404
    assert (await http.get(f"/v1/threads/{thread_id}/messages", headers=browser)).status_code == 404
    row = await database.fetch_one(
        "select active_run, (select count(*) from messages where thread_id = t.id) as n from threads t where id = %s",
        (thread_id,),
    )
    assert row == {"active_run": None, "n": 0}  # nothing stored, nothing locked
