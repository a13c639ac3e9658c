"""Versioned SQL migrations: ``migrations/NNNN_name.sql``, applied once each, in order.

All pending files run in one transaction under an advisory lock, so several workers starting at
the same moment apply each migration exactly once, and a failing file leaves nothing half done.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

from psycopg import AsyncConnection

logger = logging.getLogger(__name__)

_LOCK_KEY = 0x70726F7879  # "proxy"


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) pairs in order; the version is the file name without ``.sql``."""
    folder = resources.files("proxy.store") / "migrations"
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


async def apply_migrations(conn: AsyncConnection[Any]) -> list[str]:
    """Apply what is missing; return the versions applied now."""
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        await conn.execute(
            "create table if not exists schema_migrations ("
            " version text primary key, applied_at timestamptz not null default now())"
        )
        cur = await conn.execute("select version from schema_migrations")
        done = {row["version"] if isinstance(row, dict) else row[0] for row in await cur.fetchall()}
        for version, sql in migration_files():
            if version in done:
                continue
            await conn.execute(sql)  # trusted files shipped with the package
            await conn.execute("insert into schema_migrations (version) values (%s)", (version,))
            logger.info("applied migration %s", version)
            applied_now.append(version)
    return applied_now
