"""capture_lead / sendEmail end to end: the tool call, Postgres, the outbox, a real SMTP server."""

from __future__ import annotations

import json

import anyio

from proxy.leads.worker import deliver_due
from proxy.store.db import Database
from proxy.visitors import Visitor
from tests.integration.leads.support import (
    Recorder,
    args,
    lead_tools,
    mail_settings,
    new_thread,
    parts,
    smtp_server,
    tenant_config,
    tool_context,
)

TOOLS = lead_tools()


async def _leads(db: Database, tenant: str) -> list[dict]:
    return await db.fetch_all("select * from leads where tenant = %s order by id", (tenant,))


async def _outbox(db: Database, tenant: str) -> list[dict]:
    return await db.fetch_all("select * from outbox where tenant = %s order by id", (tenant,))


async def test_lead_is_stored_and_mailed_with_transcript(db: Database) -> None:
    tenant = "lead-deliver"
    config = tenant_config(
        tenant, ["sales@lead-deliver.test", "owner@lead-deliver.test"], from_address="Shop <leads@lead-deliver.test>"
    )
    thread_id = await new_thread(
        db, tenant, ("user", "Do you ship to Norway?"), ("assistant", "Yes, in 3-5 days."), ("user", "<b>Call me</b>")
    )
    ctx = tool_context(db, config, thread_id, call_id="call_1", page_url="https://lead-deliver.test/pricing")
    outcome = await TOOLS.dispatch(
        "capture_lead",
        args(
            name="Åsa Berg",
            email="asa@example.no",
            message="Quote for 40 chairs",
            phone="+47 22 33 44 55",
            consent=True,
        ),
        ctx,
    )
    assert outcome.ok, outcome.output
    answer = json.loads(outcome.output)
    assert answer["status"] == "saved"
    assert "reply by email to asa@example.no" in answer["message"]

    [lead] = await _leads(db, tenant)
    assert (lead["name"], lead["email"], lead["phone"], lead["consent"]) == (
        "Åsa Berg",
        "asa@example.no",
        "+47 22 33 44 55",
        True,
    )
    assert (lead["thread_id"], lead["visitor"], lead["call_id"]) == (thread_id, "v:visitor-0001", "call_1")
    assert lead["page_url"] == "https://lead-deliver.test/pricing"
    assert [row["state"] for row in await _outbox(db, tenant)] == ["pending"]

    recorder = Recorder()
    async with smtp_server(recorder) as port:
        assert await deliver_due(db, mail_settings(port), tenants=[tenant]) == 1
    [mail] = recorder.for_tenant(tenant)
    [(envelope_from, rcpts)] = recorder.envelopes
    assert envelope_from == "leads@lead-deliver.test"
    assert rcpts == ["sales@lead-deliver.test", "owner@lead-deliver.test"]
    assert mail["Subject"] == "New message from Åsa Berg - asa@example.no"
    assert mail["Reply-To"].addresses[0].addr_spec == "asa@example.no"
    assert mail["From"].addresses[0].addr_spec == "leads@lead-deliver.test"
    text, html = parts(mail)
    for body in (text, html):
        assert "Quote for 40 chairs" in body
        assert "Do you ship to Norway?" in body
        assert "https://lead-deliver.test/pricing" in body
    assert "&lt;b&gt;Call me&lt;/b&gt;" in html and "<b>Call me</b>" not in html
    [row] = await _outbox(db, tenant)
    assert row["state"] == "sent" and row["attempts"] == 1 and row["sent_at"] is not None


async def test_send_email_keeps_the_old_shape_and_messages(db: Database) -> None:
    tenant = "lead-legacy"
    config = tenant_config(tenant)
    thread_id = await new_thread(db, tenant)
    ctx = tool_context(db, config, thread_id)
    missing = [
        (args(email="a@b.co", message="hi"), "Error: Missing name"),
        (args(name="Ann", message="hi"), "Error: Missing email"),
        (args(name="Ann", email="a@b.co"), "Error: Missing message"),
        (args(name="Ann", email="a@b.co", message="   "), "Error: Missing message"),
    ]
    for raw, expected in missing:
        outcome = await TOOLS.dispatch("sendEmail", raw, ctx)
        assert (outcome.ok, outcome.output) == (False, expected)

    outcome = await TOOLS.dispatch("sendEmail", args(name="Ann", email="ann@example.com", message="Hello"), ctx)
    assert outcome.ok
    assert json.loads(outcome.output).startswith("Saved; the team has been sent the details")
    [lead] = await _leads(db, tenant)
    assert lead["source"] == "sendEmail"

    recorder = Recorder()
    settings = mail_settings(port=0, from_address=None, user="bot@proxy.test", password="right")
    async with smtp_server(recorder, auth="accept") as port:
        await deliver_due(db, settings.model_copy(update={"port": port}), tenants=[tenant])
    assert recorder.logins == ["bot@proxy.test"]
    [mail] = recorder.for_tenant(tenant)
    assert mail["Subject"] == "New message from Ann - ann@example.com"
    assert str(mail["From"]) == "AI Bot <bot@proxy.test>"  # the old sender when no from-address is set
    assert mail["To"] == f"team@{tenant}.test"


async def test_invalid_fields_give_the_model_the_reason_and_nothing_is_kept(db: Database) -> None:
    tenant = "lead-invalid"
    ctx = tool_context(db, tenant_config(tenant), await new_thread(db, tenant))
    cases = {
        args(name="Ann", email="ann@"): "email address",
        args(name="Ann", email="ann example.com"): "email address",
        args(name="Ann", email="ann@localhost"): "email address",
        args(name="A" * 201, email="ann@example.com"): "name is too long",
        args(name="Ann\r\nBcc: x@evil.test", email="ann@example.com"): "control characters",
        args(name="Ann", email="ann@example.com", message="x" * 5001): "message is too long",
        args(name="Ann", email="ann@example.com", phone="call me maybe"): "phone number",
        args(name="Ann", email="ann@example.com", consent="yes"): "consent must be true or false",
        args(name=42, email="ann@example.com"): "name must be text",
        "not json": "not valid JSON",
    }
    for raw, reason in cases.items():
        outcome = await TOOLS.dispatch("capture_lead", raw, ctx)
        assert not outcome.ok and outcome.output.startswith("Error:") and reason in outcome.output, outcome.output
    assert await _leads(db, tenant) == []
    assert await _outbox(db, tenant) == []


async def test_duplicate_tool_call_stores_and_mails_one_lead(db: Database) -> None:
    tenant = "lead-dup"
    config = tenant_config(tenant)
    thread_id = await new_thread(db, tenant)
    raw = args(name="Bo", email="bo@example.com", message="Call me")
    ctx = tool_context(db, config, thread_id)

    outcomes = []

    async def call() -> None:
        outcomes.append(await TOOLS.dispatch("capture_lead", raw, ctx, call_id="call_same"))

    async with anyio.create_task_group() as tg:  # a retried stream racing the first delivery
        for _ in range(4):
            tg.start_soon(call)
    outcomes.append(await TOOLS.dispatch("capture_lead", raw, ctx, call_id="call_same"))  # a resubmitted output
    assert all(o.ok for o in outcomes)
    statuses = sorted(json.loads(o.output)["status"] for o in outcomes)
    assert statuses == ["already_saved"] * 4 + ["saved"]
    assert {json.loads(o.output)["lead_id"] for o in outcomes} == {(await _leads(db, tenant))[0]["id"]}
    assert "reply by email" in json.loads(outcomes[-1].output)["message"]  # the repeat answers alike

    # the same details under another call id in the same thread are the same lead too
    again = await TOOLS.dispatch("capture_lead", raw, ctx, call_id="call_other")
    assert json.loads(again.output)["status"] == "already_saved"

    recorder = Recorder()
    async with smtp_server(recorder) as port:
        await deliver_due(db, mail_settings(port), tenants=[tenant])
        assert await deliver_due(db, mail_settings(port), tenants=[tenant]) == 0
    assert len(await _leads(db, tenant)) == 1
    assert len(recorder.for_tenant(tenant)) == 1


async def test_without_recipients_the_lead_is_kept_and_the_answer_says_so(db: Database) -> None:
    tenant = "lead-norcpt"
    ctx = tool_context(db, tenant_config(tenant, []), await new_thread(db, tenant))
    outcome = await TOOLS.dispatch("capture_lead", args(name="Cy", email="cy@example.com"), ctx)
    assert outcome.ok
    assert "list of enquiries" in json.loads(outcome.output)["message"]
    assert len(await _leads(db, tenant)) == 1
    assert await _outbox(db, tenant) == []


async def test_consent_can_be_required(db: Database) -> None:
    tenant = "lead-consent"
    config = tenant_config(tenant, require_consent=True)
    ctx = tool_context(db, config, await new_thread(db, tenant), visitor=Visitor("v:consent-01"))
    refused = await TOOLS.dispatch("capture_lead", args(name="Di", email="di@example.com"), ctx)
    assert not refused.ok and "consent" in refused.output
    assert await _leads(db, tenant) == []
    accepted = await TOOLS.dispatch("capture_lead", args(name="Di", email="di@example.com", consent=True), ctx)
    assert accepted.ok
    [lead] = await _leads(db, tenant)
    assert lead["consent"] is True and lead["visitor"] == "v:consent-01"


async def test_widget_is_told_the_lead_was_captured(db: Database) -> None:
    from tests.integration.leads.support import Emitted

    tenant = "lead-confirm"
    config = tenant_config(tenant, ["sales@lead-confirm.test"])
    thread_id = await new_thread(db, tenant)
    emitted = Emitted()
    ctx = tool_context(db, config, thread_id, call_id="call_c1", emit=emitted)
    fields = args(name="Ola", email="ola@example.no", message="Call me")
    first = await TOOLS.dispatch("capture_lead", fields, ctx)
    again = await TOOLS.dispatch("capture_lead", fields, ctx)
    invalid = await TOOLS.dispatch("capture_lead", args(name="Ola", email="not-an-email"), ctx)
    assert first.ok and again.ok and not invalid.ok
    assert [(name, data["status"]) for name, data in emitted.events] == [
        ("lead.captured", "saved"),
        ("lead.captured", "already_saved"),
    ]
    assert "ola@example.no" in emitted.events[0][1]["message"]
