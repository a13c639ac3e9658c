"""A visitor's conversations: list (newest activity first, cursor paged), rename, delete.

Whose conversations: a signed-in visitor's (verified user id) are theirs on every device; an
anonymous visitor's are the threads bound to this browser's visitor id that no signed-in user
owns, so signing out on a shared computer does not show the signed-in person's conversations.
Deleting a thread queues its provider-side copy (see :mod:`proxy.store.provider_copies`) in the
same statement.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from proxy.errors import ProxyError
from proxy.store.db import Database
from proxy.store.threads import free_of_turns

TITLE_CHARS = 60
PREVIEW_CHARS = 90
DELETE_BATCH = 200


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose conversations: a verified user (any device), else this browser's visitor id."""

    tenant: str
    visitor: str | None
    user_id: str | None = None

    @property
    def known(self) -> bool:
        return bool(self.user_id or self.visitor)

    def predicate(self, alias: str = "") -> str:
        """SQL matching this owner's threads; parameters ``tenant``, ``visitor``, ``user``."""
        t = f"{alias}." if alias else ""
        if self.user_id:
            return f"{t}tenant = %(tenant)s and {t}visitor_user_id = %(user)s"
        return f"{t}tenant = %(tenant)s and {t}visitor = %(visitor)s and {t}visitor_user_id is null"

    def params(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "visitor": self.visitor, "user": self.user_id}


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    title: str
    created_at: datetime
    last_message_at: datetime
    preview: str
    messages: int


class InvalidCursor(ProxyError, ValueError):
    """A page cursor this API did not give out."""

    code = "invalid_cursor"
    status = 400
    public = True


def shorten(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters, cut at a word when there is one."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    if line[limit - 1] != " ":  # in the middle of a word: back to the space before it
        space = cut.rfind(" ")
        cut = cut[:space] if space > limit // 2 else cut
    return cut.rstrip(" ,.;:") + "…"


def encode_cursor(at: datetime, thread_id: str) -> str:
    raw = json.dumps([at.isoformat(), thread_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, thread_id = json.loads(raw)
        moment = datetime.fromisoformat(at)
        if not isinstance(thread_id, str) or moment.tzinfo is None:
            raise ValueError
    except (ValueError, TypeError, json.JSONDecodeError):
        raise InvalidCursor("cursor is not one this API gave out") from None
    return moment, thread_id


_LIST = """
select t.id, t.title, t.created_at, f.content as first_question, l.content as last_text,
    l.created_at as last_at, (select count(*) from messages c where c.thread_id = t.id) as messages
from threads t
join lateral (
    select content, created_at from messages m where m.thread_id = t.id order by m.id desc limit 1
) l on true
left join lateral (
    select content from messages m where m.thread_id = t.id and m.role = 'user' order by m.id limit 1
) f on true
where {mine} and (%(at)s::timestamptz is null or (l.created_at, t.id) < (%(at)s, %(after)s))
order by l.created_at desc, t.id desc
limit %(limit)s
"""


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(
        self, owner: Owner, *, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[Conversation], str | None]:
        """A page of the owner's conversations with at least one message, and the next page's cursor."""
        at, after = decode_cursor(cursor) if cursor else (None, None)
        rows = await self.db.fetch_all(
            _LIST.format(mine=owner.predicate("t")),
            {**owner.params(), "at": at, "after": after, "limit": limit + 1},
        )
        page = [
            Conversation(
                id=r["id"],
                title=r["title"] or shorten(r["first_question"] or "", TITLE_CHARS),
                created_at=r["created_at"],
                last_message_at=r["last_at"],
                preview=shorten(r["last_text"], PREVIEW_CHARS),
                messages=r["messages"],
            )
            for r in rows[:limit]
        ]
        more = len(rows) > limit
        return page, encode_cursor(page[-1].last_message_at, page[-1].id) if more and page else None

    async def find(self, owner: Owner, thread_id: str) -> str | None:
        """The thread's id if the owner may see it."""
        row = await self.db.fetch_one(
            f"select id from threads where id = %(id)s and {owner.predicate()}", {**owner.params(), "id": thread_id}
        )
        return row["id"] if row else None

    async def binding(self, owner: Owner, thread_id: str) -> str | None:
        """The visitor id the owner's thread is bound to (the device it was started on), if theirs."""
        row = await self.db.fetch_one(
            f"select visitor from threads where id = %(id)s and {owner.predicate()}",
            {**owner.params(), "id": thread_id},
        )
        return row["visitor"] if row else None

    async def rename(self, owner: Owner, thread_id: str, title: str | None) -> bool:
        """Set (or with None, clear back to the first question) the title; False if not the owner's."""
        row = await self.db.fetch_one(
            f"update threads set title = %(title)s where id = %(id)s and {owner.predicate()} returning id",
            {**owner.params(), "id": thread_id, "title": title},
        )
        return row is not None

    async def delete(self, owner: Owner, thread_id: str) -> str:
        """``deleted``, ``busy`` (a reply is being written) or ``missing``."""
        row = await self.db.fetch_one(
            f"""
            with target as (
                select id, not {free_of_turns()} as busy
                from threads where id = %(id)s and {owner.predicate()}
            ), gone as (
                delete from threads where id = (select id from target where not busy)
                returning tenant, provider_id
            ), queued as (
                insert into provider_deletions (tenant, provider_id)
                select tenant, provider_id from gone where provider_id is not null
            )
            select (select busy from target) as busy, (select count(*) from gone) as deleted
            """,
            {**owner.params(), "id": thread_id},
        )
        assert row is not None
        if row["deleted"]:
            return "deleted"
        return "busy" if row["busy"] else "missing"

    async def delete_all(self, owner: Owner) -> tuple[int, int]:
        """Delete every conversation of the owner not busy with a reply: (deleted, busy)."""
        deleted = 0
        while True:
            row = await self.db.fetch_one(
                f"""
                with doomed as (
                    select id from threads
                    where {owner.predicate()} and {free_of_turns()}
                    order by id limit %(batch)s for update skip locked
                ), gone as (
                    delete from threads where id in (select id from doomed) returning tenant, provider_id
                ), queued as (
                    insert into provider_deletions (tenant, provider_id)
                    select tenant, provider_id from gone where provider_id is not null
                )
                select count(*) as n from gone
                """,
                {**owner.params(), "batch": DELETE_BATCH},
            )
            n = row["n"] if row else 0
            deleted += n
            if n < DELETE_BATCH:
                break
        busy = await self.db.fetch_one(f"select count(*) as n from threads where {owner.predicate()}", owner.params())
        return deleted, busy["n"] if busy else 0
