"""The background sender wakes when a lead is stored (NOTIFY), without waiting for its poll."""

from __future__ import annotations

import anyio

from proxy.leads.worker import run_outbox_worker
from proxy.store.db import Database
from tests.integration.leads.support import Recorder, mail_settings, outbox_rows, queue_lead, smtp_server, tenant_config


async def test_worker_delivers_new_leads_promptly_and_stops_cleanly(db: Database) -> None:
    tenant = "worker-wake"
    config = tenant_config(tenant)
    recorder = Recorder()
    async with smtp_server(recorder) as port:
        settings = mail_settings(port)
        with anyio.fail_after(30):
            # an hour's poll interval: only the notification can bring these mails out in time
            async with run_outbox_worker(db, settings, poll_interval=3600, tenants=[tenant]) as worker:
                await queue_lead(db, config, name="First", email="first@example.com")
                await recorder.wait_for(1, tenant)
                await queue_lead(db, config, name="Second", email="second@example.com")
                await recorder.wait_for(2, tenant)
                assert worker.passes >= 1
    subjects = sorted(m["Subject"] for m in recorder.for_tenant(tenant))
    assert subjects == ["New message from First - first@example.com", "New message from Second - second@example.com"]
    assert {row["state"] for row in await outbox_rows(db, tenant)} == {"sent"}


async def test_worker_sends_what_was_queued_before_it_started(db: Database) -> None:
    tenant = "worker-backlog"
    await queue_lead(db, tenant_config(tenant))
    recorder = Recorder()
    async with smtp_server(recorder) as port:
        with anyio.fail_after(30):
            async with run_outbox_worker(db, mail_settings(port), poll_interval=3600, tenants=[tenant]):
                await recorder.wait_for(1, tenant)
