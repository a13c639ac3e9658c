"""What the thread store returns and takes: threads, locked threads, messages, leases."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Self

from proxy.engines.base import HistoryMessage
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
    def from_row(cls, row: dict[str, Any], **extra: Any) -> Self:
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
            **extra,
        )

    @property
    def owner(self) -> Visitor:
        """The visitor the thread was created for, as verified then."""
        return Visitor(self.visitor, self.visitor_kind, self.visitor_user_id, self.visitor_email)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class LockedThread(ThreadRecord):
    """A thread whose turn lock was just taken, with what the same statement stored and read.

    ``user_message_id``: the visitor's message, stored with the lock (None if none was given).
    ``history``: the last messages before it, oldest first (None if not asked for).
    """

    user_message_id: int | None = None
    history: tuple[HistoryMessage, ...] | None = None
    abandoned_run: str | None = None  # the run of a dead worker whose lapsed lease was taken over
    # what was said while a person of the staff held the thread, not yet told to the assistant:
    # (role, content, author) oldest first; see proxy.console.takeover
    briefing: tuple[tuple[str, str, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class HeldThread:
    """A thread a person of the staff holds (see :mod:`proxy.console.takeover`), as the statement
    that was to open a turn found it; ``user_message_id``: the visitor's message, stored for them."""

    thread_id: str
    takeover_id: int
    staff_id: str
    staff_name: str
    since: datetime
    user_message_id: int | None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    role: Literal["user", "assistant"]
    content: str
    run_id: str | None
    created_at: datetime
    author: str | None = None  # a person of the staff wrote it (role "assistant")


LockResult = Literal["acquired", "busy", "held", "missing"]

EndStep = Literal["waiting", "saved", "lost"]
"""What :meth:`ThreadStore.finish_turn` reports: ``waiting`` (at most once, as soon as the write has
to wait), then ``saved`` or ``lost`` (given up: the lease expires by itself), last."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A running turn's hold on its thread; ``draft``: its reply so far, None if unchanged;
    ``provider_id``: the thread's new provider id, if the turn has one (None keeps the stored one)."""

    thread_id: str
    run_id: str
    draft: str | None = None
    provider_id: str | None = None


def free_of_turns(table: str = "threads") -> str:
    """SQL true for a row of ``table`` (a name or alias of ``threads``) no live turn holds: for
    statements elsewhere that must skip busy threads in the same statement (deleting, pruning)."""
    return f"({table}.active_run is null or {table}.locked_until < now())"


COLUMNS = "id, tenant, visitor, engine, provider_id, created_at, visitor_kind, visitor_user_id, visitor_email"
"""A thread row's columns, in :meth:`ThreadRecord.from_row`'s order of fields."""
