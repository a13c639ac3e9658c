"""Bad input gets a 4xx naming the problem, never a 500: each case here once answered 500."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.hardening.conftest import IDENTITY_SECRET, SHOP_KEY, SHOP_ORIGIN
from tests.integration.hardening.tokens import sign_raw


def assert_named_4xx(response: httpx.Response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    text = str(error).lower()
    for word in words:
        assert word.lower() in text, error
    assert "traceback" not in response.text.lower()


async def new_thread(http: httpx.AsyncClient) -> str:
    response = await http.post("/v1/threads", headers=SHOP_ORIGIN)
    assert response.status_code == 201, response.text
    return str(response.json()["thread_id"])


async def test_nul_in_a_message_on_v1(http: httpx.AsyncClient) -> None:
    thread_id = await new_thread(http)
    response = await http.post(f"/v1/threads/{thread_id}/messages", json={"content": "a\u0000b"}, headers=SHOP_ORIGIN)
    assert_named_4xx(response, 400, "invalid_message", "NUL")


async def test_nul_in_a_message_on_the_old_route(http: httpx.AsyncClient) -> None:
    thread_id = (await http.get("/open-ai/create-thread", headers=SHOP_ORIGIN)).json()["id"]
    response = await http.post(
        "/open-ai/process-message", json={"threadId": thread_id, "message": "a\u0000b"}, headers=SHOP_ORIGIN
    )
    assert_named_4xx(response, 400, "invalid_message", "NUL")


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
async def test_nul_and_quote_in_a_thread_id(http: httpx.AsyncClient, method: str) -> None:
    path = "/v1/threads/%00'/messages" if method != "DELETE" else "/v1/threads/%00'"
    body = {"content": "hello"} if method == "POST" else None
    response = await http.request(method, path, json=body, headers=SHOP_ORIGIN)
    assert_named_4xx(response, 400, "invalid_thread_id", "thread id")


async def test_deeply_nested_json(http: httpx.AsyncClient) -> None:
    thread_id = await new_thread(http)
    body = "[" * 30_000 + "]" * 30_000
    response = await http.post(
        f"/v1/threads/{thread_id}/messages",
        content=body,
        headers={**SHOP_ORIGIN, "Content-Type": "application/json"},
    )
    assert_named_4xx(response, 400, "invalid_json", "nested")


async def test_admin_dates_at_the_ends_of_the_calendar(http: httpx.AsyncClient) -> None:
    response = await http.get(
        "/v1/admin/leads",
        params={"since": "0001-01-01", "until": "9999-12-31"},
        headers={"Authorization": f"Bearer {SHOP_KEY}"},
    )
    assert_named_4xx(response, 400, "invalid_date", "until")


@pytest.mark.parametrize("exp", ["1e999", "NaN", "Infinity", "-1e999"])
async def test_identity_token_with_an_exp_that_is_not_a_time(http: httpx.AsyncClient, exp: str) -> None:
    now = int(time.time())
    forged = sign_raw(f'{{"sub": "u1", "aud": "shop", "iat": {now}, "exp": {exp}}}', IDENTITY_SECRET)
    response = await http.post("/v1/threads", json={"identity_token": forged}, headers=SHOP_ORIGIN)
    assert_named_4xx(response, 401, "invalid_identity_token", "exp")
