"""kill -9 of the service between storing a lead and sending its mail, and in the middle of sending."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import anyio
from anyio.streams.text import TextReceiveStream

from proxy.leads.worker import deliver_due
from proxy.store.db import Database
from tests.integration.leads.support import Recorder, mail_settings, outbox_rows, smtp_server

CHILD = Path(__file__).with_name("child_store_lead.py")
ROOT = Path(__file__).resolve().parents[3]


async def _run_and_kill(url: str, tenant: str, mode: str) -> dict:
    """Start the child, wait for its report that the lead is committed, then SIGKILL it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = await anyio.open_process([sys.executable, str(CHILD), url, tenant, mode], cwd=ROOT, env=env)
    try:
        assert process.stdout is not None
        with anyio.fail_after(60):
            line = ""
            async for chunk in TextReceiveStream(process.stdout):
                line += chunk
                if "\n" in line:
                    break
        process.send_signal(signal.SIGKILL)
        assert await process.wait() == -signal.SIGKILL
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()
    return json.loads(line)


async def test_killed_between_store_and_send_delivers_once_after_restart(db: Database, leads_db_url: str) -> None:
    tenant = "crash-store"
    report = await _run_and_kill(leads_db_url, tenant, "store")
    [row] = await outbox_rows(db, tenant)
    assert row["lead_id"] == report["lead_id"] and row["state"] == "pending"

    recorder = Recorder()
    async with smtp_server(recorder) as port:  # "restart": a new process's sender
        assert await deliver_due(db, mail_settings(port), tenants=[tenant]) == 1
        assert await deliver_due(db, mail_settings(port), tenants=[tenant]) == 0
    [mail] = recorder.for_tenant(tenant)
    assert mail["X-Proxy-Lead"] == str(report["lead_id"])


async def test_killed_mid_send_delivers_once_after_the_lease(db: Database, leads_db_url: str) -> None:
    tenant = "crash-sending"
    report = await _run_and_kill(leads_db_url, tenant, "claim")
    [row] = await outbox_rows(db, tenant)
    assert report["claimed"] == [row["id"]] and row["state"] == "sending"

    recorder = Recorder()
    async with smtp_server(recorder) as port:
        settings = mail_settings(port)
        assert await deliver_due(db, settings, tenants=[tenant]) == 0  # the dead process still holds the lease
        # time passes: the lease runs out
        await db.execute("update outbox set lease_until = now() - interval '1 second' where id = %s", (row["id"],))
        assert await deliver_due(db, settings, tenants=[tenant]) == 1
        assert await deliver_due(db, settings, tenants=[tenant]) == 0
    assert len(recorder.for_tenant(tenant)) == 1
    [row] = await outbox_rows(db, tenant)
    assert row["state"] == "sent"
