"""What the console lists: conversations that asked for a person, a search, one transcript."""

from __future__ import annotations

from typing import Any

from proxy.store.db import Database

RECENT_DAYS = 30  # how far back the search looks


def _ts(value: Any) -> int | None:
    return int(value.timestamp()) if value is not None else None


_LAST = (
    "(select json_build_object('role', m.role, 'content', left(m.content, 160), 'author', m.author)"
    " from messages m where m.thread_id = t.id order by m.id desc limit 1) as last_message"
)


async def handoff_inbox(db: Database, tenant: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """Conversations that asked for a person, newest request first, with the reason and contact."""
    rows = await db.fetch_all(
        "select * from (select distinct on (h.thread_id) h.id as handoff_id, h.thread_id, h.reason, h.source,"
        " coalesce(h.contact_email, t.visitor_email) as contact_email, h.created_at,"
        " (select staff_name from takeovers k where k.thread_id = t.id and k.ended_at is null) as holder,"
        f" {_LAST}"
        " from handoffs h join threads t on t.id = h.thread_id and t.tenant = h.tenant"
        " where h.tenant = %s order by h.thread_id, h.id desc) latest"
        " order by created_at desc limit %s",
        (tenant, limit),
    )
    return [{**row, "created_at": _ts(row["created_at"])} for row in rows]


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def search_conversations(db: Database, tenant: str, query: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """Recent conversations (newest activity first); with ``query``, those with a message containing it."""
    query = " ".join(query.split())[:200]
    rows = await db.fetch_all(
        "select t.id as thread_id, t.created_at, t.visitor_email,"
        " (select max(m.created_at) from messages m where m.thread_id = t.id) as active_at,"
        " (select count(*) from messages m where m.thread_id = t.id) as messages,"
        " (select staff_name from takeovers k where k.thread_id = t.id and k.ended_at is null) as holder,"
        " exists (select from handoffs h where h.thread_id = t.id and h.tenant = t.tenant) as asked_for_person,"
        f" {_LAST}"
        " from threads t where t.tenant = %(tenant)s"
        " and t.created_at > now() - make_interval(days => %(days)s)"
        " and (%(q)s = '' or exists (select from messages m where m.thread_id = t.id and m.content ilike %(like)s))"
        " and exists (select from messages m where m.thread_id = t.id)"
        " order by active_at desc nulls last limit %(limit)s",
        {"tenant": tenant, "days": RECENT_DAYS, "q": query, "like": _like(query), "limit": limit},
    )
    return [{**row, "created_at": _ts(row["created_at"]), "active_at": _ts(row["active_at"])} for row in rows]


async def thread_of_tenant(db: Database, tenant: str, thread_id: str) -> dict[str, Any] | None:
    return await db.fetch_one(
        "select id, visitor_kind, visitor_email, created_at from threads where id = %s and tenant = %s",
        (thread_id, tenant),
    )


def message_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "role": "human" if row.get("author") else row["role"],
        "author": row.get("author"),
        "content": row["content"],
        "created_at": _ts(row["created_at"]),
    }


async def messages_after(db: Database, thread_id: str, after: int, *, limit: int = 500) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        "select id, role, content, author, created_at from messages where thread_id = %s and id > %s"
        " order by id limit %s",
        (thread_id, after, limit),
    )
    return [message_out(row) for row in rows]


async def handoffs_of(db: Database, tenant: str, thread_id: str) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        "select id, reason, source, contact_email, created_at from handoffs where tenant = %s and thread_id = %s"
        " order by id",
        (tenant, thread_id),
    )
    return [{**row, "created_at": _ts(row["created_at"])} for row in rows]
