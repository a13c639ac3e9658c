"""A visitor's conversations over the real app and Postgres: list, paging, rename, delete, delete-all."""

from __future__ import annotations

import uuid

import pytest
from litestar.testing import AsyncTestClient

from proxy.identity import issue_identity_token

SECRET = "identity-secret-of-the-shop-tenant-32b"
SHOP = {"Origin": "https://shop.test"}
RUN = uuid.uuid4().hex[:8]  # the database is shared by the session's tests: ids of this test run
ALICE = {**SHOP, "X-Visitor-Id": f"browser-alice-{RUN}"}
BOB = {**SHOP, "X-Visitor-Id": f"browser-bob-{RUN}"}


@pytest.fixture(autouse=True)
def fresh_people() -> None:
    global RUN
    RUN = uuid.uuid4().hex[:8]
    ALICE["X-Visitor-Id"] = f"browser-alice-{RUN}"
    BOB["X-Visitor-Id"] = f"browser-bob-{RUN}"


def signed_in(browser: str, sub: str = "user-42") -> dict[str, str]:
    sub = f"{sub}-{RUN}"
    token = issue_identity_token(secret=SECRET, tenant="shop", sub=sub, email=f"{sub}@example.com")
    browser = browser if browser.endswith(RUN) else f"{browser}-{RUN}"
    return {**SHOP, "X-Visitor-Id": browser, "X-Identity-Token": token}


async def chat(client: AsyncTestClient, headers: dict[str, str], *texts: str) -> str:
    body = {"identity_token": headers["X-Identity-Token"]} if "X-Identity-Token" in headers else None
    created = await client.post("/v1/threads", headers=headers, json=body)
    assert created.status_code == 201, created.text
    thread_id: str = created.json()["thread_id"]
    for text in texts:
        reply = await client.post(f"/v1/threads/{thread_id}/messages", json={"content": text}, headers=headers)
        assert reply.status_code == 200 and "event: done" in reply.text
    return thread_id


async def listing(client: AsyncTestClient, headers: dict[str, str], **params: object) -> dict:  # type: ignore[type-arg]
    response = await client.get("/v1/threads", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_list_newest_activity_first_with_title_and_preview(client: AsyncTestClient) -> None:
    older = await chat(client, ALICE, "say:Which tents keep out the rain?")
    newer = await chat(client, ALICE, "say:Do you ship to Norway quickly and cheaply, and how long does it take?")
    await chat(client, BOB, "say:Bob's own question")
    page = await listing(client, ALICE)
    assert [t["thread_id"] for t in page["threads"]] == [newer, older]
    first = page["threads"][0]
    assert first["title"].startswith("say:Do you ship to Norway")
    assert len(first["title"]) <= 60 and first["title"].endswith("…")
    assert first["preview"].startswith("Do you ship")  # the assistant's reply, the last message
    assert first["message_count"] == 2
    assert first["last_message_at"] >= first["created_at"]
    # a message in the older conversation moves it to the top
    await client.post(f"/v1/threads/{older}/messages", json={"content": "say:again"}, headers=ALICE)
    assert [t["thread_id"] for t in (await listing(client, ALICE))["threads"]] == [older, newer]


async def test_empty_threads_are_not_listed(client: AsyncTestClient) -> None:
    await client.post("/v1/threads", headers=ALICE)
    assert (await listing(client, ALICE))["threads"] == []


async def test_cursor_paging_visits_each_once(client: AsyncTestClient) -> None:
    made = [await chat(client, ALICE, f"say:question {i}") for i in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await listing(client, ALICE, limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [t["thread_id"] for t in page["threads"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(made))


async def test_bad_paging_input_is_400(client: AsyncTestClient) -> None:
    for params, code in (
        ({"limit": 0}, "invalid_limit"),
        ({"limit": 101}, "invalid_limit"),
        ({"cursor": "zz"}, "invalid_cursor"),
    ):
        response = await client.get("/v1/threads", headers=ALICE, params=params)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == code
    anonymous = await client.get("/v1/threads", headers=SHOP)
    assert anonymous.status_code == 400 and anonymous.json()["error"]["code"] == "visitor_required"


async def test_rename_and_back_to_first_question(client: AsyncTestClient) -> None:
    thread_id = await chat(client, ALICE, "say:hello there")
    renamed = await client.patch(f"/v1/threads/{thread_id}", json={"title": "  Tents\tfor  winter "}, headers=ALICE)
    assert renamed.status_code == 200 and renamed.json() == {"thread_id": thread_id, "title": "Tents for winter"}
    assert (await listing(client, ALICE))["threads"][0]["title"] == "Tents for winter"
    assert (await client.patch(f"/v1/threads/{thread_id}", json={"title": None}, headers=ALICE)).status_code == 200
    assert (await listing(client, ALICE))["threads"][0]["title"] == "say:hello there"
    for body in ({"title": ""}, {"title": "x" * 121}, {"title": 5}, {"name": "x"}):
        bad = await client.patch(f"/v1/threads/{thread_id}", json=body, headers=ALICE)
        assert bad.status_code == 400, body
        assert "error" in bad.json()


async def test_another_visitor_or_tenant_cannot_see_rename_or_delete(client: AsyncTestClient) -> None:
    thread_id = await chat(client, ALICE, "say:mine")
    others = [
        BOB,
        {"Origin": "https://other.test", "X-Visitor-Id": ALICE["X-Visitor-Id"]},
        {"Authorization": "Bearer ck_other_secret", "X-Visitor-Id": ALICE["X-Visitor-Id"]},
    ]
    for headers in others:
        assert thread_id not in [t["thread_id"] for t in (await listing(client, headers))["threads"]]
        renamed = await client.patch(f"/v1/threads/{thread_id}", json={"title": "pwned"}, headers=headers)
        assert renamed.status_code == 404
        assert (await client.delete(f"/v1/threads/{thread_id}", headers=headers)).status_code == 404
        gone = await client.delete("/v1/threads", headers=headers)
        assert gone.status_code == 200
    page = await listing(client, ALICE)
    assert [(t["thread_id"], t["title"]) for t in page["threads"]] == [(thread_id, "say:mine")]


async def test_delete_one_and_delete_all(client: AsyncTestClient) -> None:
    one, two, three = [await chat(client, ALICE, f"say:topic {i}") for i in range(3)]
    bobs = await chat(client, BOB, "say:bob")
    assert (await client.delete(f"/v1/threads/{two}", headers=ALICE)).status_code == 204
    assert (await client.get(f"/v1/threads/{two}/messages", headers=ALICE)).status_code == 404
    assert [t["thread_id"] for t in (await listing(client, ALICE))["threads"]] == [three, one]
    gone = await client.delete("/v1/threads", headers=ALICE)
    assert gone.json() == {"deleted": 2, "busy": 0}
    assert (await listing(client, ALICE))["threads"] == []
    assert [t["thread_id"] for t in (await listing(client, BOB))["threads"]] == [bobs]


async def test_signed_in_visitor_sees_theirs_on_any_device(client: AsyncTestClient) -> None:
    laptop, phone = signed_in("laptop-browser-1"), signed_in("phone-browser-01")
    anonymous_on_laptop = await chat(client, {**SHOP, "X-Visitor-Id": f"laptop-browser-1-{RUN}"}, "say:before sign-in")
    on_laptop = await chat(client, laptop, "say:from the laptop")
    on_phone = await chat(client, phone, "say:from the phone")
    someone_else = await chat(client, signed_in("other-browser-7", sub="user-7"), "say:another account")
    for device in (laptop, phone):
        assert [t["thread_id"] for t in (await listing(client, device))["threads"]] == [on_phone, on_laptop]
    # the laptop's history read, renamed and deleted from the phone
    history = await client.get(f"/v1/threads/{on_laptop}/messages", headers=phone)
    assert history.status_code == 200
    assert [m["content"] for m in history.json()["messages"]] == ["say:from the laptop", "from the laptop"]
    assert (await client.get(f"/v1/threads/{someone_else}/messages", headers=phone)).status_code == 404
    # ... and continued there
    went_on = await client.post(
        f"/v1/threads/{on_laptop}/messages", json={"content": "say:on the phone"}, headers=phone
    )
    assert went_on.status_code == 200 and "event: done" in went_on.text
    foreign = await client.post(f"/v1/threads/{someone_else}/messages", json={"content": "say:x"}, headers=phone)
    assert foreign.status_code == 404
    assert [t["thread_id"] for t in (await listing(client, laptop))["threads"]] == [on_laptop, on_phone]
    assert (await client.patch(f"/v1/threads/{on_laptop}", json={"title": "Laptop"}, headers=phone)).status_code == 200
    assert (await client.delete(f"/v1/threads/{on_laptop}", headers=phone)).status_code == 204
    assert [t["thread_id"] for t in (await listing(client, laptop))["threads"]] == [on_phone]
    # signed out on the laptop: only what was written there anonymously
    page = await listing(client, {**SHOP, "X-Visitor-Id": f"laptop-browser-1-{RUN}"})
    assert [t["thread_id"] for t in page["threads"]] == [anonymous_on_laptop]
    assert (await client.delete("/v1/threads", headers=phone)).json()["deleted"] == 1
    assert [t["thread_id"] for t in (await listing(client, signed_in("x-browser-01", sub="user-7")))["threads"]] == [
        someone_else
    ]


async def test_bad_identity_token_is_401(client: AsyncTestClient) -> None:
    response = await client.get("/v1/threads", headers={**ALICE, "X-Identity-Token": "not.a.token"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_identity_token"
