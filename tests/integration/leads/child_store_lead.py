"""Run by test_crash: store a lead like a live service would, report, then wait to be killed.

Usage: python child_store_lead.py <conninfo> <tenant> store|claim
  store: the lead and its mail are committed; the sender never gets to it.
  claim: a sender has also leased the mail (it is "sending") when the process dies.
"""

from __future__ import annotations

import json
import sys

import anyio

from proxy.mail import outbox
from proxy.store.db import Database
from tests.integration.leads.support import queue_lead, tenant_config


async def main(url: str, tenant: str, mode: str) -> None:
    async with Database.connect(url, migrate=False) as db:
        lead_id = await queue_lead(db, tenant_config(tenant))
        claimed = []
        if mode == "claim":
            claimed = await outbox.claim(
                db, owner="child", lease_seconds=600, limit=5, kinds=["email"], tenants=[tenant]
            )
        print(json.dumps({"lead_id": lead_id, "claimed": [item.id for item in claimed]}), flush=True)
        await anyio.sleep_forever()  # the parent sends SIGKILL here


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:4])
