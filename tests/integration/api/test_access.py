"""Fail-closed tenant resolution and thread ownership over the v1 API."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

SHOP = {"Origin": "https://www.shop.test"}


async def test_thread_created_for_known_origin(client: AsyncTestClient) -> None:
    response = await client.post("/v1/threads", headers=SHOP)
    assert response.status_code == 201
    body = response.json()
    assert body["thread_id"].startswith("thr_") and len(body["thread_id"]) > 20
    assert isinstance(body["created_at"], int)


@pytest.mark.parametrize(
    "origin",
    ["https://shop.test:8443", "http://SHOP.test", "https://a.shops.test", "https://deep.a.shops.test"],
)
async def test_origin_normalised_and_wildcards(client: AsyncTestClient, origin: str) -> None:
    assert (await client.post("/v1/threads", headers={"Origin": origin})).status_code == 201


@pytest.mark.parametrize("origin", ["https://evil.test", "https://shop.test.evil.test", "https://shops.test"])
async def test_unknown_origin_is_403(client: AsyncTestClient, origin: str) -> None:
    response = await client.post("/v1/threads", headers={"Origin": origin})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "unknown_origin"


async def test_referer_used_when_no_origin(client: AsyncTestClient) -> None:
    ok = await client.post("/v1/threads", headers={"Referer": "https://shop.test/products/1"})
    bad = await client.post("/v1/threads", headers={"Referer": "https://evil.test/"})
    assert (ok.status_code, bad.status_code) == (201, 403)


async def test_no_origin_needs_client_key(client: AsyncTestClient) -> None:
    anonymous = await client.post("/v1/threads")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"
    forged = await client.post("/v1/threads", headers={"Authorization": "Bearer nope"})
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "invalid_client_key"
    server = await client.post("/v1/threads", headers={"Authorization": "Bearer ck_shop_secret"})
    assert server.status_code == 201


async def test_foreign_tenants_thread_is_404(client: AsyncTestClient) -> None:
    thread_id = (await client.post("/v1/threads", headers=SHOP)).json()["thread_id"]
    for headers in ({"Origin": "https://other.test"}, {"Authorization": "Bearer ck_other_secret"}):
        response = await client.get(f"/v1/threads/{thread_id}/messages", headers=headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "thread_not_found"
        posted = await client.post(f"/v1/threads/{thread_id}/messages", json={"content": "hi"}, headers=headers)
        assert posted.status_code == 404


async def test_thread_bound_to_visitor(client: AsyncTestClient) -> None:
    alice = {**SHOP, "X-Visitor-Id": "visitor-alice-1"}
    thread_id = (await client.post("/v1/threads", headers=alice)).json()["thread_id"]
    assert (await client.get(f"/v1/threads/{thread_id}/messages", headers=alice)).status_code == 200
    mallory = {**SHOP, "X-Visitor-Id": "visitor-mallory"}
    assert (await client.get(f"/v1/threads/{thread_id}/messages", headers=mallory)).status_code == 404
    assert (await client.get(f"/v1/threads/{thread_id}/messages", headers=SHOP)).status_code == 404


async def test_bad_visitor_id_is_400(client: AsyncTestClient) -> None:
    response = await client.post("/v1/threads", headers={**SHOP, "X-Visitor-Id": "<script>"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_visitor_id"


async def test_cors_preflight_only_for_tenant_origins(client: AsyncTestClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    ok = await client.options("/v1/threads", headers={"Origin": "https://www.shop.test", **preflight})
    assert ok.status_code in (200, 204)
    assert ok.headers["access-control-allow-origin"] == "https://www.shop.test"
    bad = await client.options("/v1/threads", headers={"Origin": "https://evil.test", **preflight})
    assert "access-control-allow-origin" not in bad.headers


async def test_health_and_schema(client: AsyncTestClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json()["status"] == "ready"
    schema = (await client.get("/schema/openapi.json")).json()
    assert "/v1/threads/{thread_id}/messages" in schema["paths"]
