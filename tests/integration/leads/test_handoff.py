"""Human handoff: the tool, keywords and requests; the mail, the signed webhook, the stream event."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from proxy.leads.handoff import handoff_for_message, handoff_requested, record_handoff, source_of
from proxy.leads.worker import deliver_due
from proxy.simulator import ServerThread
from proxy.store.db import Database
from proxy.visitors import Visitor
from tests.integration.leads.support import (
    Emitted,
    Recorder,
    WebhookReceiver,
    args,
    lead_tools,
    mail_settings,
    new_thread,
    outbox_rows,
    parts,
    queue_lead,
    smtp_server,
    tenant_config,
    tool_context,
    verify_signature,
)

SECRET_ENV = "LEADS_TEST_WEBHOOK_SECRET"
ENV = {SECRET_ENV: "whsec_test_secret"}
TOOLS = lead_tools()


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    app = WebhookReceiver()
    with ServerThread(app) as server:
        yield app, server.url


def _webhook(url: str, path: str) -> dict:
    return {"webhook_url": f"{url}/{path}", "webhook_secret_env": SECRET_ENV}


async def test_escalate_tool_records_notifies_and_emits(db: Database, receiver: tuple[WebhookReceiver, str]) -> None:
    hook, url = receiver
    tenant = "handoff-tool"
    config = tenant_config(tenant, **_webhook(url, "handoff-tool"))
    thread_id = await new_thread(db, tenant, ("user", "My order arrived broken"), ("assistant", "I am sorry."))
    emitted = Emitted()
    ctx = tool_context(db, config, thread_id, call_id="call_h1", emit=emitted)

    outcome = await TOOLS.dispatch("escalate_to_human", args(reason="Damaged delivery, wants a replacement"), ctx)
    assert outcome.ok, outcome.output
    answer = json.loads(outcome.output)
    assert answer["status"] == "requested" and answer["team_notified"] is True
    assert "capture_lead" in answer["next_step"]  # no email known yet: the model should ask for one
    [(event, data)] = emitted.events
    assert event == "handoff"
    assert data["status"] == "requested" and data["needs_contact"] is True and data["message"]
    assert "reason" not in data  # the model's note about the visitor stays off the visitor's screen

    [handoff] = await db.fetch_all("select * from handoffs where tenant = %s", (tenant,))
    assert (handoff["reason"], handoff["source"], handoff["call_id"]) == (
        "Damaged delivery, wants a replacement",
        "tool",
        "call_h1",
    )
    # the same call delivered again: one handoff, nothing new queued
    again = await TOOLS.dispatch("escalate_to_human", args(reason="Damaged delivery, wants a replacement"), ctx)
    assert json.loads(again.output)["status"] == "already_requested"
    assert [row["kind"] for row in await outbox_rows(db, tenant)] == ["email", "webhook"]

    recorder = Recorder()
    async with smtp_server(recorder) as port:
        await deliver_due(db, mail_settings(port), tenants=[tenant], env=ENV)
    [mail] = recorder.for_tenant(tenant)
    assert mail["Subject"] == "Handoff requested: Damaged delivery, wants a replacement"
    text, html = parts(mail)
    assert "My order arrived broken" in text and "My order arrived broken" in html
    assert "no email on file" in text

    [(headers, body)] = [
        c for c in hook.calls if c[0].get("x-proxy-event") == "handoff.created" and json.loads(c[1])["tenant"] == tenant
    ]
    assert verify_signature(ENV[SECRET_ENV], body, headers["x-proxy-signature"])
    assert not verify_signature("another secret", body, headers["x-proxy-signature"])
    payload = json.loads(body)
    assert payload["handoff"]["id"] == handoff["id"] and payload["handoff"]["thread_id"] == thread_id
    assert {row["state"] for row in await outbox_rows(db, tenant)} == {"sent"}


async def test_keyword_handoff_once_per_cooldown_with_known_contact(db: Database) -> None:
    tenant = "handoff-keyword"
    config = tenant_config(tenant, handoff_keywords=["refund", "cancel my order"])
    await queue_lead(db, config, name="Ida", email="ida@example.com")
    [lead] = await db.fetch_all("select thread_id from leads where tenant = %s", (tenant,))
    thread_id = lead["thread_id"]

    reason = handoff_requested("Please CANCEL my   order today", config.leads.handoff_keywords)
    assert reason == 'the visitor wrote the keyword "cancel my order"'
    first = await record_handoff(
        db,
        tenant=tenant,
        tenant_config=config,
        thread_id=thread_id,
        visitor=Visitor("v:visitor-0001"),
        reason=reason,
        source=source_of(reason),
    )
    assert first["duplicate"] is False and first["contact_email"] == "ida@example.com"
    assert first["needs_contact"] is False and first["source"] == "keyword"
    assert first["channels"] == ["email"]

    reason = handoff_requested("can I talk to a real person?", config.leads.handoff_keywords)
    assert reason is not None and source_of(reason) == "request"
    second = await record_handoff(
        db,
        tenant=tenant,
        tenant_config=config,
        thread_id=thread_id,
        visitor="v:visitor-0001",
        reason=reason,
        source="request",
    )
    assert second["duplicate"] is True and second["id"] == first["id"]
    assert len(await db.fetch_all("select id from handoffs where tenant = %s", (tenant,))) == 1

    recorder = Recorder()
    async with smtp_server(recorder) as port:
        await deliver_due(db, mail_settings(port), tenants=[tenant])
    handoff_mails = [m for m in recorder.for_tenant(tenant) if m["X-Proxy-Handoff"]]
    [mail] = handoff_mails
    assert mail["Reply-To"].addresses[0].addr_spec == "ida@example.com"


async def test_webhook_is_retried_through_the_outbox(db: Database, receiver: tuple[WebhookReceiver, str]) -> None:
    hook, url = receiver
    tenant = "handoff-hookretry"
    config = tenant_config(tenant, [], **_webhook(url, "retry"))
    await record_handoff(
        db,
        tenant=tenant,
        tenant_config=config,
        thread_id=await new_thread(db, tenant),
        visitor=None,
        reason="visitor asked",
        source="request",
    )
    hook.plan[:] = [503]
    before = len(hook.calls)
    await deliver_due(db, mail_settings(0), tenants=[tenant], env=ENV)
    [row] = await outbox_rows(db, tenant)
    assert (row["kind"], row["state"], row["attempts"]) == ("webhook", "pending", 1)
    assert "503" in row["last_error"]
    await deliver_due(db, mail_settings(0), tenants=[tenant], env=ENV)
    [row] = await outbox_rows(db, tenant)
    assert row["state"] == "sent"
    calls = hook.calls[before:]
    assert len(calls) == 2
    assert {h["x-proxy-delivery"] for h, _ in calls} == {str(row["id"])}  # one id: receivers can dedupe
    assert all(verify_signature(ENV[SECRET_ENV], body, h["x-proxy-signature"]) for h, body in calls)


async def test_webhook_refusal_and_missing_secret(db: Database, receiver: tuple[WebhookReceiver, str]) -> None:
    hook, url = receiver
    tenant = "handoff-hookfail"
    config = tenant_config(tenant, [], **_webhook(url, "refuse"))
    for i in range(2):
        await record_handoff(
            db,
            tenant=tenant,
            tenant_config=config,
            thread_id=await new_thread(db, tenant),
            visitor=None,
            reason=f"case {i}",
            source="tool",
        )
    await deliver_due(db, mail_settings(0), tenants=[tenant], env={})  # the secret variable is not set
    rows = await outbox_rows(db, tenant)
    assert all(r["state"] == "pending" and SECRET_ENV in r["last_error"] for r in rows)
    hook.plan[:] = [400, 400]
    await deliver_due(db, mail_settings(0), tenants=[tenant], env=ENV)
    rows = await outbox_rows(db, tenant)
    assert all(r["state"] == "dead" and "400" in r["last_error"] for r in rows)


async def test_lead_webhook(db: Database, receiver: tuple[WebhookReceiver, str]) -> None:
    hook, url = receiver
    tenant = "handoff-leadhook"
    config = tenant_config(tenant, [], webhook_events=["lead"], **_webhook(url, "lead"))
    lead_id = await queue_lead(db, config, name="Jo", email="jo@example.com")
    await deliver_due(db, mail_settings(0), tenants=[tenant], env=ENV)
    [(headers, body)] = [c for c in hook.calls if json.loads(c[1])["tenant"] == tenant]
    assert headers["x-proxy-event"] == "lead.created"
    payload = json.loads(body)
    assert payload["lead"]["id"] == lead_id and payload["lead"]["email"] == "jo@example.com"
    assert verify_signature(ENV[SECRET_ENV], body, headers["x-proxy-signature"])


async def test_the_runner_hook_follows_the_tenant_settings(db: Database) -> None:
    tenant = "handoff-hook"
    strict = tenant_config(tenant, handoff_keywords=["complaint"], handoff_on_request=False)

    async def check(config, text: str) -> dict | None:  # type: ignore[no-untyped-def]
        return await handoff_for_message(
            db, tenant=tenant, tenant_config=config, thread_id=await new_thread(db, tenant), visitor=None, text=text
        )

    assert await check(strict, "What does shipping cost?") is None
    assert await check(strict, "let me talk to a human") is None  # requests are off for this tenant
    record = await check(strict, "I have a Complaint")
    assert record is not None and record["source"] == "keyword" and record["channels"] == ["email"]
    record = await check(tenant_config(tenant), "let me talk to a human")
    assert record is not None and record["source"] == "request"
