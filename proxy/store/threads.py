"""Threads and their history in Postgres, and the per-thread turn lock.

The lock is a lease on the thread row (``active_run`` + ``locked_until``), so it holds across
workers and instances and frees itself if a process dies mid-turn.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from proxy.engines.base import HistoryMessage
from proxy.store.db import Database
from proxy.visitors import Visitor


def new_id(prefix: str) -> str:
    """Unguessable ids of our own (never the provider's)."""
    return f"{prefix}_{secrets.token_urlsafe(18)}"


@dataclass(frozen=True, slots=True)
class ThreadRecord:
    id: str
    tenant: str
    visitor: str | None
    engine: str
    provider_id: str | None
    created_at: datetime
    visitor_kind: str = "anonymous"
    visitor_user_id: str | None = None
    visitor_email: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ThreadRecord:
        return cls(
            row["id"],
            row["tenant"],
            row["visitor"],
            row["engine"],
            row["provider_id"],
            row["created_at"],
            row["visitor_kind"],
            row["visitor_user_id"],
            row["visitor_email"],
        )

    @property
    def owner(self) -> Visitor:
        """The visitor the thread was created for, as verified then."""
        return Visitor(self.visitor, self.visitor_kind, self.visitor_user_id, self.visitor_email)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    role: Literal["user", "assistant"]
    content: str
    run_id: str | None
    created_at: datetime


LockResult = Literal["acquired", "busy", "missing"]

_COLUMNS = "id, tenant, visitor, engine, provider_id, created_at, visitor_kind, visitor_user_id, visitor_email"


class ThreadStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, *, tenant: str, visitor: Visitor, engine: str) -> ThreadRecord:
        row = await self.db.fetch_one(
            "insert into threads (id, tenant, visitor, visitor_kind, visitor_user_id, visitor_email, engine)"
            f" values (%s, %s, %s, %s, %s, %s, %s) returning {_COLUMNS}",
            (new_id("thr"), tenant, visitor.binding, visitor.kind, visitor.user_id, visitor.email, engine),
        )
        assert row is not None
        return ThreadRecord.from_row(row)

    async def get(self, thread_id: str, *, tenant: str, visitor: str | None) -> ThreadRecord | None:
        """The thread if this tenant (and visitor, when the thread is bound to one) owns it."""
        row = await self.db.fetch_one(
            f"select {_COLUMNS} from threads where id = %s and tenant = %s"
            " and (visitor is null or visitor is not distinct from %s)",
            (thread_id, tenant, visitor),
        )
        return ThreadRecord.from_row(row) if row else None

    async def lock(
        self, thread_id: str, *, tenant: str, visitor: str | None, run_id: str, lease_seconds: float
    ) -> tuple[LockResult, ThreadRecord | None]:
        """Take the thread's turn lock in one round trip; tell busy from missing if it fails."""
        row = await self.db.fetch_one(
            "update threads set active_run = %s, locked_until = now() + make_interval(secs => %s)"
            " where id = %s and tenant = %s and (visitor is null or visitor is not distinct from %s)"
            " and (active_run is null or locked_until < now())"
            f" returning {_COLUMNS}",
            (run_id, lease_seconds, thread_id, tenant, visitor),
        )
        if row:
            return "acquired", ThreadRecord.from_row(row)
        existing = await self.get(thread_id, tenant=tenant, visitor=visitor)
        return ("busy", existing) if existing else ("missing", None)

    async def unlock(self, thread_id: str, run_id: str) -> None:
        await self.db.execute(
            "update threads set active_run = null, locked_until = null where id = %s and active_run = %s",
            (thread_id, run_id),
        )

    async def active_run(self, thread_id: str) -> str | None:
        row = await self.db.fetch_one(
            "select active_run from threads where id = %s and locked_until >= now()", (thread_id,)
        )
        return row["active_run"] if row else None

    async def set_provider_id(self, thread_id: str, provider_id: str | None) -> None:
        await self.db.execute("update threads set provider_id = %s where id = %s", (provider_id, thread_id))

    async def delete(self, thread_id: str) -> None:
        await self.db.execute("delete from threads where id = %s", (thread_id,))

    async def add_message(self, thread_id: str, role: str, content: str, run_id: str | None = None) -> None:
        await self.db.execute(
            "insert into messages (thread_id, role, content, run_id) values (%s, %s, %s, %s)",
            (thread_id, role, content, run_id),
        )

    async def finish_turn(self, thread_id: str, run_id: str, reply: str) -> None:
        """Save the reply (or its finished part) and release the lock in one transaction."""
        async with self.db.transaction() as conn:
            if reply:
                await conn.execute(
                    "insert into messages (thread_id, role, content, run_id) values (%s, 'assistant', %s, %s)",
                    (thread_id, reply, run_id),
                )
            await conn.execute(
                "update threads set active_run = null, locked_until = null where id = %s and active_run = %s",
                (thread_id, run_id),
            )

    async def messages(self, thread_id: str, *, limit: int = 200, newest_first: bool = False) -> list[StoredMessage]:
        """The last ``limit`` messages, oldest first unless ``newest_first``."""
        rows = await self.db.fetch_all(
            "select id, role, content, run_id, created_at from messages where thread_id = %s order by id desc limit %s",
            (thread_id, limit),
        )
        if not newest_first:
            rows.reverse()
        return [StoredMessage(r["id"], r["role"], r["content"], r["run_id"], r["created_at"]) for r in rows]

    async def history(self, thread_id: str, *, limit: int) -> list[HistoryMessage]:
        """The last ``limit`` messages as the chat engine sends them, oldest first."""
        return [HistoryMessage(m.role, m.content) for m in await self.messages(thread_id, limit=limit)]
