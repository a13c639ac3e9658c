"""Stopping a run that another worker is running.

A visitor's Stop may reach any worker behind the load balancer, but only the worker running the
turn can cancel it. The thread row says which run holds the thread; when that run is not here,
the request goes out as a Postgres NOTIFY, and every worker cancels it if it runs it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from proxy.store.db import Database
from proxy.store.notify import notifications, notify
from proxy.turns.manager import TurnManager

CHANNEL = "proxy_run_cancel"


async def request_cancel(db: Database, *, thread_id: str, run_id: str) -> None:
    await notify(db, CHANNEL, f"{thread_id} {run_id}")


async def serve_cancel_requests(db: Database, turns: TurnManager) -> None:
    """Cancel the runs other workers were asked to stop, when they run here; until cancelled."""
    async for payload in notifications(db, CHANNEL):
        thread_id, _, run_id = payload.partition(" ")
        turns.cancel(run_id, thread_id=thread_id)


@asynccontextmanager
async def relaying_cancels(db: Database, turns: TurnManager) -> AsyncIterator[None]:
    """Serve other workers' cancel requests while the block runs."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(serve_cancel_requests, db, turns, name="cancel requests")
        try:
            yield
        finally:
            tg.cancel_scope.cancel()
