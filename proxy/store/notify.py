"""Postgres LISTEN/NOTIFY: how one worker tells the others (and itself) that something happened."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import anyio
from psycopg import AsyncConnection

from proxy.backoff import backoff_delay
from proxy.store.db import Database

logger = logging.getLogger(__name__)

RELISTEN_FIRST = 1.0  # seconds before listening again after the connection broke
RELISTEN_CAP = 60.0


async def notify(db: Database, channel: str, payload: str = "") -> None:
    await db.execute("select pg_notify(%s, %s)", (channel, payload))


async def notifications(
    db: Database, channel: str, *, on_listening: Callable[[], None] | None = None
) -> AsyncIterator[str]:
    """The payloads sent on ``channel``, for as long as the caller iterates.

    LISTEN needs a connection of its own, outside the pool. When it breaks, this waits (up to 1 s,
    doubling up to a minute, jittered) and listens again, calling ``on_listening`` each time it does, so a
    caller can catch up on what it may have missed meanwhile. A pool whose connection string is
    a callable cannot be listened to: then nothing is ever yielded.
    """
    conninfo = db.pool.conninfo
    if not isinstance(conninfo, str):
        return
    failures = 0
    while True:
        try:
            async with await AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f'listen "{channel}"')
                failures = 0
                if on_listening is not None:
                    on_listening()
                async for message in conn.notifies():
                    yield message.payload
        except Exception:
            logger.warning("LISTEN connection lost; listening again", exc_info=True, extra={"channel": channel})
        await anyio.sleep(backoff_delay(failures, first=RELISTEN_FIRST, cap=RELISTEN_CAP))
        failures += 1
