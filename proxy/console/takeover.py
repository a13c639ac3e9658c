"""A person holding a conversation: take over, write, hand back; and what the assistant is told.

The open ``takeovers`` row of a thread is its holder (a unique index keeps it to one, across staff
and workers). While it is open, a visitor's message is stored and announced instead of starting a
turn, and the staff member's messages are stored as the assistant's side with their name as
``author``. On the first turn after the hand-back the assistant gets the part it missed (see
:func:`briefed`; the statement that opens the turn reads it), whatever keeps its context (our
history or the provider's conversation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from proxy.store.db import Database


@dataclass(frozen=True, slots=True)
class Holder:
    takeover_id: int
    staff_id: str
    name: str
    since: datetime

    def public(self) -> dict[str, Any]:
        return {"takeover_id": self.takeover_id, "name": self.name, "since": int(self.since.timestamp())}


def _holder(row: dict[str, Any] | None) -> Holder | None:
    if row is None:
        return None
    return Holder(row["id"], row["staff_id"], row["staff_name"], row["started_at"])


async def holder(db: Database, thread_id: str) -> Holder | None:
    row = await db.fetch_one(
        "select id, staff_id, staff_name, started_at from takeovers where thread_id = %s and ended_at is null",
        (thread_id,),
    )
    return _holder(row)


async def take_over(db: Database, *, tenant: str, thread_id: str, staff_id: str, name: str) -> tuple[bool, Holder]:
    """(True, me) if I hold the thread now (or held it already); (False, the holder) if someone else does."""
    while True:
        row = await db.fetch_one(
            "insert into takeovers (tenant, thread_id, staff_id, staff_name, from_message)"
            " select %s, %s, %s, %s, coalesce((select max(id) from messages where thread_id = %s), 0)"
            " on conflict (thread_id) where ended_at is null do nothing"
            " returning id, staff_id, staff_name, started_at",
            (tenant, thread_id, staff_id, name, thread_id),
        )
        if row is not None:
            return True, Holder(row["id"], row["staff_id"], row["staff_name"], row["started_at"])
        current = await holder(db, thread_id)
        if current is not None:
            return current.staff_id == staff_id, current
        # handed back between the two statements: try again


async def hand_back(db: Database, *, thread_id: str, staff_id: str) -> Holder | None:
    """End my hold; the ended takeover, or None if I did not hold the thread."""
    row = await db.fetch_one(
        "update takeovers set ended_at = now(),"
        " to_message = coalesce((select max(id) from messages where thread_id = %s), from_message)"
        " where thread_id = %s and ended_at is null and staff_id = %s"
        " returning id, staff_id, staff_name, started_at",
        (thread_id, thread_id, staff_id),
    )
    return _holder(row)


async def post_staff_message(db: Database, *, thread_id: str, staff_id: str, text: str) -> dict[str, Any] | None:
    """Store the holder's message (as the assistant's side, with their name); None if not the holder."""
    return await db.fetch_one(
        "insert into messages (thread_id, role, content, author)"
        " select thread_id, 'assistant', %s, staff_name from takeovers"
        " where thread_id = %s and ended_at is null and staff_id = %s"
        " returning id, role, content, author, created_at",
        (text, thread_id, staff_id),
    )


async def post_visitor_message_if_held(
    db: Database, *, thread_id: str, tenant: str, visitor: str | None, text: str
) -> Holder | None:
    """Store the visitor's message if a person holds the thread (then no turn starts); else None.

    The thread must be this tenant's and visitor's, as for a turn."""
    row = await db.fetch_one(
        "with held as (select k.id, k.staff_id, k.staff_name, k.started_at from takeovers k"
        " join threads t on t.id = k.thread_id where k.thread_id = %s and k.ended_at is null"
        " and t.tenant = %s and (t.visitor is null or t.visitor is not distinct from %s)),"
        " posted as (insert into messages (thread_id, role, content) select %s, 'user', %s from held returning id)"
        " select held.* from held, posted",
        (thread_id, tenant, visitor, thread_id, text),
    )
    return _holder(row)


def _speaker(role: str, author: str | None) -> str:
    if role == "user":
        return "Visitor"
    return f"{author} (staff)" if author else "Assistant"


def briefed(user_text: str, briefing: Sequence[tuple[str, str, str | None]]) -> str:
    """The turn's input: the visitor's message, preceded by what a person and the visitor said
    while the assistant was away (``briefing``: role, content, author; read and marked as told by
    the statement that opened the turn, the first one after the hand-back)."""
    if not briefing:
        return user_text
    lines = "\n".join(f"{_speaker(role, author)}: {content}" for role, content, author in briefing)
    return (
        "[While you were away, a member of our staff took over this conversation. What was said, oldest first:\n"
        f"{lines}\n"
        "The staff member has handed the conversation back to you; carry on from there. The visitor's new message:]\n"
        f"{user_text}"
    )
