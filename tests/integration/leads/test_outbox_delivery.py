"""The outbox against real SMTP servers: outages, refusals, TLS, crashed senders, rival senders."""

from __future__ import annotations

import ssl

import anyio

from proxy.leads.worker import deliver_due
from proxy.mail import outbox
from proxy.mail.settings import MailSettings
from proxy.store.db import Database
from tests.integration.leads.support import (
    Recorder,
    RejectingRecorder,
    mail_settings,
    outbox_rows,
    queue_lead,
    smtp_server,
    tenant_config,
)
from tests.support.ports import free_port


async def test_server_down_keeps_the_lead_and_delivers_when_it_returns(db: Database) -> None:
    tenant = "out-down"
    await queue_lead(db, tenant_config(tenant))
    port = free_port()  # nothing listens here yet
    settings = mail_settings(port)

    assert await deliver_due(db, settings, tenants=[tenant]) == 1
    [row] = await outbox_rows(db, tenant)
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert "unreachable" in row["last_error"]
    assert len(await db.fetch_all("select id from leads where tenant = %s", (tenant,))) == 1

    recorder = Recorder()
    async with smtp_server(recorder, port=port):
        assert await deliver_due(db, settings, tenants=[tenant]) == 1
    assert len(recorder.for_tenant(tenant)) == 1
    [row] = await outbox_rows(db, tenant)
    assert (row["state"], row["attempts"]) == ("sent", 2)


async def test_a_failure_waits_for_its_backoff(db: Database) -> None:
    tenant = "out-backoff"
    await queue_lead(db, tenant_config(tenant))
    settings = mail_settings(free_port(), backoff_base=300)
    await deliver_due(db, settings, tenants=[tenant])
    assert await deliver_due(db, settings, tenants=[tenant]) == 0  # not due again yet
    [row] = await outbox_rows(db, tenant)
    waited = await db.fetch_one("select next_attempt_at - updated_at as wait from outbox where id = %s", (row["id"],))
    assert 140 < waited["wait"].total_seconds() <= 301  # 300 s, shortened by up to half (jitter)


async def test_attempts_are_bounded_then_dead_letter(db: Database) -> None:
    tenant = "out-bounded"
    await queue_lead(db, tenant_config(tenant))
    settings = mail_settings(free_port(), max_attempts=3)
    for _ in range(5):
        await deliver_due(db, settings, tenants=[tenant])
    [row] = await outbox_rows(db, tenant)
    assert (row["state"], row["attempts"]) == ("dead", 3)
    assert "unreachable" in row["last_error"]


async def test_auth_failure_is_a_dead_letter_with_the_reason(db: Database) -> None:
    tenant = "out-auth"
    await queue_lead(db, tenant_config(tenant))
    recorder = Recorder()
    async with smtp_server(recorder, auth="refuse") as port:
        await deliver_due(db, mail_settings(port, user="bot", password="wrong"), tenants=[tenant])
    [row] = await outbox_rows(db, tenant)
    assert (row["state"], row["attempts"]) == ("dead", 1)
    assert "authentication failed" in row["last_error"] and "535" in row["last_error"]
    assert recorder.messages == []


async def test_permanently_rejected_recipient_is_a_dead_letter(db: Database) -> None:
    tenant = "out-550"
    await queue_lead(db, tenant_config(tenant, ["gone@out-550.test"]))
    recorder = RejectingRecorder(permanent={"gone@out-550.test"})
    async with smtp_server(recorder) as port:
        await deliver_due(db, mail_settings(port), tenants=[tenant])
        assert await deliver_due(db, mail_settings(port), tenants=[tenant]) == 0
    [row] = await outbox_rows(db, tenant)
    assert (row["state"], row["attempts"]) == ("dead", 1)
    assert "550" in row["last_error"] and "gone@out-550.test" in row["last_error"]


async def test_temporarily_refused_recipient_is_retried(db: Database) -> None:
    tenant = "out-450"
    await queue_lead(db, tenant_config(tenant, ["busy@out-450.test"]))
    recorder = RejectingRecorder(temporary={"busy@out-450.test"})
    async with smtp_server(recorder) as port:
        await deliver_due(db, mail_settings(port), tenants=[tenant])
        [row] = await outbox_rows(db, tenant)
        assert (row["state"], row["attempts"]) == ("pending", 1) and "450" in row["last_error"]
        recorder.temporary.clear()
        await deliver_due(db, mail_settings(port), tenants=[tenant])
    assert len(recorder.for_tenant(tenant)) == 1


async def test_one_refused_recipient_does_not_stop_the_others(db: Database) -> None:
    tenant = "out-partial"
    await queue_lead(db, tenant_config(tenant, ["ok@out-partial.test", "gone@out-partial.test"]))
    recorder = RejectingRecorder(permanent={"gone@out-partial.test"})
    async with smtp_server(recorder) as port:
        await deliver_due(db, mail_settings(port), tenants=[tenant])
    assert recorder.envelopes[-1][1] == ["ok@out-partial.test"]
    [row] = await outbox_rows(db, tenant)
    assert row["state"] == "sent" and "gone@out-partial.test" in row["last_error"]


async def test_starttls_with_login(db: Database, server_tls: ssl.SSLContext) -> None:
    tenant = "out-starttls"
    await queue_lead(db, tenant_config(tenant))
    recorder = Recorder()
    async with smtp_server(recorder, auth="accept", starttls=server_tls) as port:
        settings = mail_settings(port, starttls=True, validate_certs=False, user="bot", password="right")
        await deliver_due(db, settings, tenants=[tenant])
    assert recorder.logins == ["bot"]
    assert len(recorder.for_tenant(tenant)) == 1


async def test_implicit_tls(db: Database, server_tls: ssl.SSLContext) -> None:
    tenant = "out-tls"
    await queue_lead(db, tenant_config(tenant))
    recorder = Recorder()
    async with smtp_server(recorder, implicit_tls=server_tls) as port:
        await deliver_due(db, mail_settings(port, implicit_tls=True, validate_certs=False), tenants=[tenant])
    assert len(recorder.for_tenant(tenant)) == 1


async def test_required_starttls_missing_is_a_dead_letter(db: Database) -> None:
    tenant = "out-nostarttls"
    await queue_lead(db, tenant_config(tenant))
    recorder = Recorder()
    async with smtp_server(recorder) as port:
        await deliver_due(db, mail_settings(port, starttls=True), tenants=[tenant])
    [row] = await outbox_rows(db, tenant)
    assert row["state"] == "dead" and "STARTTLS" in row["last_error"]
    assert recorder.messages == []


async def test_without_smtp_settings_mails_wait_without_using_attempts(db: Database) -> None:
    tenant = "out-unset"
    await queue_lead(db, tenant_config(tenant))
    unset = MailSettings(_env_file=None, host=None)  # type: ignore[call-arg]
    assert await deliver_due(db, unset, tenants=[tenant]) == 0
    [row] = await outbox_rows(db, tenant)
    assert (row["state"], row["attempts"]) == ("pending", 0)


async def test_a_sender_dying_mid_send_is_replaced_after_its_lease(db: Database) -> None:
    tenant = "out-lease"
    await queue_lead(db, tenant_config(tenant))
    # a sender takes the row and dies before finishing
    [taken] = await outbox.claim(db, owner="dead-sender", lease_seconds=600, limit=5, kinds=["email"], tenants=[tenant])
    recorder = Recorder()
    async with smtp_server(recorder) as port:
        settings = mail_settings(port)
        assert await deliver_due(db, settings, tenants=[tenant]) == 0  # leased: hands off
        await db.execute("update outbox set lease_until = now() - interval '1 second' where id = %s", (taken.id,))
        assert await deliver_due(db, settings, tenants=[tenant]) == 1
        assert await deliver_due(db, settings, tenants=[tenant]) == 0
    assert len(recorder.for_tenant(tenant)) == 1
    assert not await outbox.mark_sent(db, taken)  # the dead sender's late word changes nothing
    [row] = await outbox_rows(db, tenant)
    assert (row["state"], row["attempts"]) == ("sent", 2)


async def test_a_lost_last_attempt_is_a_dead_letter(db: Database) -> None:
    tenant = "out-lostlast"
    await queue_lead(db, tenant_config(tenant))
    await outbox.claim(db, owner="dead-sender", lease_seconds=-1, limit=5, kinds=["email"], tenants=[tenant])
    recorder = Recorder()
    async with smtp_server(recorder) as port:
        await deliver_due(db, mail_settings(port, max_attempts=1), tenants=[tenant])
    [row] = await outbox_rows(db, tenant)
    assert row["state"] == "dead" and "lease expired" in row["last_error"]
    assert recorder.messages == []


async def test_rival_senders_never_send_a_mail_twice(db: Database) -> None:
    tenant = "out-rivals"
    config = tenant_config(tenant)
    for i in range(12):
        await queue_lead(db, config, name=f"Visitor {i}", email=f"v{i}@example.com")
    recorder = Recorder()
    async with smtp_server(recorder) as port:
        settings = mail_settings(port, concurrency=2, batch_size=5)
        attempted: list[int] = []

        async def sender() -> None:
            while count := await deliver_due(db, settings, tenants=[tenant]):
                attempted.append(count)

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(sender)
    mails = recorder.for_tenant(tenant)
    assert sum(attempted) == 12
    assert len(mails) == 12
    assert len({m["Message-ID"] for m in mails}) == 12
    assert {row["state"] for row in await outbox_rows(db, tenant)} == {"sent"}
