"""The tenant admin API, on a small Litestar app with stand-in ``caller`` and ``db`` providers."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar, Request
from litestar.di import Provide
from litestar.testing import AsyncTestClient

from proxy.api.deps import Caller
from proxy.api.errors import ApiError, exception_handlers
from proxy.leads.admin import LeadsAdminController
from proxy.leads.handoff import record_handoff
from proxy.leads.worker import deliver_due
from proxy.store.db import Database
from proxy.tenants import Tenant
from proxy.visitors import Visitor
from tests.integration.leads.support import (
    Recorder,
    mail_settings,
    new_thread,
    outbox_rows,
    queue_lead,
    smtp_server,
    tenant_config,
)

TENANTS = {
    name: Tenant(config=tenant_config(name), api_key=None, client_keys=(f"ck_{name}",), base_url=None)
    for name in ("admin-a", "admin-b", "admin-retry")
}


async def _caller(request: Request[Any, Any, Any]) -> Caller:
    """Stand-in for the app's resolver: X-Tenant names the site; a matching bearer key is the owner."""
    tenant = TENANTS.get(request.headers.get("x-tenant", ""))
    if tenant is None:
        raise ApiError(401, "unauthenticated", "unknown tenant")
    key = request.headers.get("authorization", "").removeprefix("Bearer ")
    return Caller(tenant, Visitor(), via_client_key=tenant.accepts_client_key(key))


@pytest.fixture
async def client(db: Database) -> AsyncIterator[AsyncTestClient]:
    async def provide_db() -> Database:
        return db

    app = Litestar(
        route_handlers=[LeadsAdminController],
        dependencies={"caller": Provide(_caller), "db": Provide(provide_db)},
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
        logging_config=None,
    )
    async with AsyncTestClient(app) as test_client:
        yield test_client


def owner(tenant: str) -> dict[str, str]:
    return {"x-tenant": tenant, "authorization": f"Bearer ck_{tenant}"}


async def test_origin_alone_is_refused(client: AsyncTestClient) -> None:
    for path in ("/v1/admin/leads", "/v1/admin/handoffs", "/v1/admin/leads.csv"):
        response = await client.get(path, headers={"x-tenant": "admin-a"})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "client_key_required"
    response = await client.post("/v1/admin/outbox/1/retry", headers={"x-tenant": "admin-a"})
    assert response.status_code == 403


async def test_leads_with_delivery_status_and_date_filters(client: AsyncTestClient, db: Database) -> None:
    config = TENANTS["admin-a"].config
    old = await queue_lead(db, config, name="Old Lead", email="old@example.com")
    new = await queue_lead(db, config, name="New Lead", email="new@example.com")
    await queue_lead(db, TENANTS["admin-b"].config, name="Other Shop", email="other@example.com")
    await db.execute("update leads set created_at = '2024-01-15T10:00:00Z' where id = %s", (old,))

    body = (await client.get("/v1/admin/leads", headers=owner("admin-a"))).json()
    ids = [lead["id"] for lead in body["leads"]]
    assert ids[:2] == [new, old]  # newest first; only this tenant's
    assert all(lead["tenant"] == "admin-a" for lead in body["leads"])
    first = body["leads"][0]
    assert first["delivery_status"] == "pending"
    assert [(d["kind"], d["state"]) for d in first["deliveries"]] == [("email", "pending")]

    async def ids_for(query: str) -> list[int]:
        response = await client.get(f"/v1/admin/leads?{query}", headers=owner("admin-a"))
        assert response.status_code == 200, response.text
        return [lead["id"] for lead in response.json()["leads"]]

    assert await ids_for("since=2024-01-01&until=2024-01-31") == [old]
    assert await ids_for("until=2024-01-15") == [old]  # a bare date includes that whole day
    assert await ids_for("since=2024-01-15T10:00:01Z&until=2024-02-01") == []
    assert await ids_for("since=2024-01-15T11:00:00%2B01:00&until=2024-01-16") == [old]
    response = await client.get("/v1/admin/leads?since=last+week", headers=owner("admin-a"))
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_date"

    recorder = Recorder()
    async with smtp_server(recorder) as port:
        await deliver_due(db, mail_settings(port), tenants=["admin-a"])
    body = (await client.get("/v1/admin/leads", headers=owner("admin-a"))).json()
    assert {lead["delivery_status"] for lead in body["leads"]} == {"sent"}


async def test_csv_export(client: AsyncTestClient, db: Database) -> None:
    config = TENANTS["admin-b"].config
    await queue_lead(db, config, name='=HYPERLINK("http://evil.test")', email="csv@example.com")
    response = await client.get("/v1/admin/leads.csv", headers=owner("admin-b"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    row = next(r for r in rows if r["email"] == "csv@example.com")
    assert row["name"] == '\'=HYPERLINK("http://evil.test")'  # a spreadsheet shows it, never runs it
    assert row["email_state"] == "pending" and row["delivery_status"] == "pending"


async def test_handoffs_listed(client: AsyncTestClient, db: Database) -> None:
    thread_id = await new_thread(db, "admin-a")
    record = await record_handoff(
        db,
        tenant="admin-a",
        tenant_config=TENANTS["admin-a"].config,
        thread_id=thread_id,
        visitor=None,
        reason="wants a call back",
        source="tool",
    )
    body = (await client.get("/v1/admin/handoffs", headers=owner("admin-a"))).json()
    [listed] = [h for h in body["handoffs"] if h["id"] == record["id"]]
    assert listed["reason"] == "wants a call back" and listed["delivery_status"] == "pending"
    assert (await client.get("/v1/admin/handoffs", headers=owner("admin-b"))).json()["handoffs"] == []


async def test_retry_a_dead_letter(client: AsyncTestClient, db: Database) -> None:
    tenant = "admin-retry"
    await queue_lead(db, TENANTS[tenant].config, name="Retry Me", email="retry@example.com")
    refusing = Recorder()
    async with smtp_server(refusing, auth="refuse") as port:
        await deliver_due(db, mail_settings(port, user="bot", password="wrong"), tenants=[tenant])
    [dead] = [r for r in await outbox_rows(db, tenant) if r["state"] == "dead"]

    listed = (await client.get("/v1/admin/outbox?state=dead", headers=owner(tenant))).json()["outbox"]
    assert [r["id"] for r in listed] == [dead["id"]] and "authentication" in listed[0]["last_error"]

    assert (await client.post(f"/v1/admin/outbox/{dead['id']}/retry", headers=owner("admin-b"))).status_code == 404
    assert (await client.post("/v1/admin/outbox/999999999/retry", headers=owner(tenant))).status_code == 404
    response = await client.post(f"/v1/admin/outbox/{dead['id']}/retry", headers=owner(tenant))
    assert response.status_code == 200, response.text
    assert response.json()["outbox"]["state"] == "pending" and response.json()["outbox"]["attempts"] == 0

    recorder = Recorder()
    async with smtp_server(recorder) as port:
        await deliver_due(db, mail_settings(port), tenants=[tenant])
    assert [m["Subject"] for m in recorder.for_tenant(tenant)] == ["New message from Retry Me - retry@example.com"]
    response = await client.post(f"/v1/admin/outbox/{dead['id']}/retry", headers=owner(tenant))
    assert response.status_code == 409 and response.json()["error"]["state"] == "sent"
