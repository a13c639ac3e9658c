"""Everything held about one person, exported as one JSON document or erased.

A person is named by the widget's visitor id, the host site's user id (from identity tokens) or
an email address. What is theirs, within one tenant:

* conversations: threads bound to the visitor id, the user id, or signed in with the email, the
  threads their leads and handoffs came from, and (for an email) the other threads of the browsers
  the email was given in; with every message and saved stream event;
* leads with that email or from those threads or that visitor; handoffs likewise (contact email);
* notifications in the outbox about those leads and handoffs (export: those not yet sent; erase:
  all, and any other notification of the tenant that names the email).

Erasing deletes all of it in one transaction, queues the provider-side copies of the threads
(deleted right after, see :mod:`proxy.store.provider_copies`), and writes an audit row that says
what was erased (counts and ids) and when, but neither the content nor the identifier itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from proxy.leads.store import HANDOFF_COLUMNS, LEAD_COLUMNS
from proxy.store import provider_copies
from proxy.store.db import Database

if TYPE_CHECKING:
    from proxy.engines.base import Engine

SubjectKind = Literal["visitor_id", "user_id", "email"]
SUBJECT_KINDS: tuple[SubjectKind, ...] = ("visitor_id", "user_id", "email")


@dataclass(frozen=True, slots=True)
class Subject:
    tenant: str
    kind: SubjectKind
    value: str

    @property
    def email(self) -> str | None:
        return self.value.strip().lower() if self.kind == "email" else None

    def digest(self) -> str:
        """Recognises a repeated request in the audit without keeping the identifier."""
        return hashlib.sha256(f"{self.tenant}\0{self.kind}\0{self.value.strip().lower()}".encode()).hexdigest()

    def params(self) -> dict[str, Any]:
        value = self.value.strip()
        return {
            "tenant": self.tenant,
            # the widget's id is stored with the prefix the API gives it (see proxy.api.deps)
            "visitor": f"v:{value}" if self.kind == "visitor_id" and not value.startswith("v:") else value,
            "by_visitor": self.kind == "visitor_id",
            "by_user": self.kind == "user_id",
            "email": self.email,
            "like": "%" + self.email.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            if self.email
            else None,
        }


# the person's threads, leads and handoffs, as ids; one statement so it reads one snapshot. An
# email also finds the browsers it was given in (the visitor ids of its leads, handoffs and
# signed-in threads) and so that person's other conversations there.
_FIND = """
with direct_threads as (
    select id, visitor from threads where tenant = %(tenant)s and (
        (%(by_visitor)s and visitor = %(visitor)s)
        or (%(by_user)s and visitor_user_id = %(visitor)s)
        or (%(email)s::text is not null and lower(visitor_email) = %(email)s))
), direct_leads as (
    select id, thread_id, visitor from leads where tenant = %(tenant)s and (
        (%(by_visitor)s and visitor = %(visitor)s) or (%(email)s::text is not null and lower(email) = %(email)s))
), direct_handoffs as (
    select id, thread_id, visitor from handoffs where tenant = %(tenant)s and (
        (%(by_visitor)s and visitor = %(visitor)s)
        or (%(email)s::text is not null and lower(contact_email) = %(email)s))
), browsers as (
    select visitor from direct_leads union select visitor from direct_handoffs
    union select visitor from direct_threads where %(email)s::text is not null
), own_threads as (
    select id from direct_threads
    union select thread_id from direct_leads union select thread_id from direct_handoffs
    union select id from threads where tenant = %(tenant)s and visitor in (select visitor from browsers)
), own_leads as (
    select id from leads where tenant = %(tenant)s
      and (id in (select id from direct_leads) or thread_id in (select id from own_threads))
), own_handoffs as (
    select id from handoffs where tenant = %(tenant)s
      and (id in (select id from direct_handoffs) or thread_id in (select id from own_threads))
)
select
    coalesce((select array_agg(id order by id) from threads
              where tenant = %(tenant)s and id in (select id from own_threads)), '{}') as threads,
    coalesce((select array_agg(id order by id) from own_leads), '{}') as leads,
    coalesce((select array_agg(id order by id) from own_handoffs), '{}') as handoffs
"""


@dataclass(frozen=True, slots=True)
class Found:
    threads: list[str]
    leads: list[int]
    handoffs: list[int]


async def find(conn: AsyncConnection[Any], subject: Subject) -> Found:
    cur = await conn.execute(_FIND, subject.params())
    row: Any = await cur.fetchone()
    return Found(list(row["threads"]), list(row["leads"]), list(row["handoffs"]))


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


async def _all(conn: AsyncConnection[Any], query: str, params: Any) -> list[dict[str, Any]]:
    cur = await conn.execute(query, params)
    return [_plain(r) for r in await cur.fetchall()]


async def export(db: Database, subject: Subject) -> dict[str, Any]:
    """One JSON-ready document with everything held about the person (read in one snapshot)."""
    async with db.connection() as conn, conn.transaction():
        await conn.execute("set transaction isolation level repeatable read, read only")
        found = await find(conn, subject)
        threads = await _all(
            conn,
            "select id as thread_id, title, created_at, visitor, visitor_kind, visitor_user_id, visitor_email,"
            " engine from threads where id = any(%s) order by created_at, id",
            (found.threads,),
        )
        messages = await _all(
            conn,
            "select thread_id, id, role, content, run_id, created_at from messages"
            " where thread_id = any(%s) order by thread_id, id",
            (found.threads,),
        )
        by_thread: dict[str, list[dict[str, Any]]] = {}
        for message in messages:
            by_thread.setdefault(message.pop("thread_id"), []).append(message)
        for thread in threads:
            thread["messages"] = by_thread.get(thread["thread_id"], [])
        leads = await _all(conn, f"select {LEAD_COLUMNS} from leads where id = any(%s) order by id", (found.leads,))
        handoffs = await _all(
            conn, f"select {HANDOFF_COLUMNS} from handoffs where id = any(%s) order by id", (found.handoffs,)
        )
        outbox = await _all(
            conn,
            "select id, kind, state, lead_id, handoff_id, attempts, created_at, payload from outbox"
            " where tenant = %s and state <> 'sent' and (lead_id = any(%s) or handoff_id = any(%s)) order by id",
            (subject.tenant, found.leads, found.handoffs),
        )
    return {
        "tenant": subject.tenant,
        "subject": {"kind": subject.kind, "value": subject.value},
        "exported_at": datetime.now(UTC).isoformat(),
        "conversations": threads,
        "leads": leads,
        "handoffs": handoffs,
        "unsent_notifications": outbox,
    }


_ERASE = """
with gone_threads as (
    delete from threads where tenant = %(tenant)s and id = any(%(threads)s) returning tenant, provider_id
), queued as (
    insert into provider_deletions (tenant, provider_id)
    select tenant, provider_id from gone_threads where provider_id is not null
    returning id
), gone_outbox as (
    delete from outbox where tenant = %(tenant)s and (
        lead_id = any(%(leads)s) or handoff_id = any(%(handoffs)s)
        or (%(like)s::text is not null and payload::text ilike %(like)s))
    returning id
), gone_leads as (
    delete from leads where tenant = %(tenant)s and id = any(%(leads)s) returning id
), gone_handoffs as (
    delete from handoffs where tenant = %(tenant)s and id = any(%(handoffs)s) returning id
)
select (select count(*) from gone_threads) as threads,
    coalesce((select array_agg(id) from queued), '{}') as queued,
    (select count(*) from gone_outbox) as notifications,
    (select count(*) from gone_leads) as leads,
    (select count(*) from gone_handoffs) as handoffs
"""


async def erase(
    db: Database, subject: Subject, *, requested_via: str, engines: Mapping[str, Engine] | None = None
) -> dict[str, Any]:
    """Erase everything held about the person; return what the audit row records, with its id."""
    async with db.connection() as conn, conn.transaction():
        found = await find(conn, subject)
        cur = await conn.execute("select count(*) as n from messages where thread_id = any(%s)", (found.threads,))
        counted: Any = await cur.fetchone()
        cur = await conn.execute(
            _ERASE, {**subject.params(), "threads": found.threads, "leads": found.leads, "handoffs": found.handoffs}
        )
        gone: Any = await cur.fetchone()
        erased = {
            "conversations": gone["threads"],
            "messages": counted["n"],
            "leads": gone["leads"],
            "handoffs": gone["handoffs"],
            "notifications": gone["notifications"],
            "thread_ids": found.threads,
            "lead_ids": found.leads,
            "handoff_ids": found.handoffs,
        }
        cur = await conn.execute(
            "insert into erasure_audit (tenant, subject_kind, subject_hash, requested_via, erased)"
            " values (%s, %s, %s, %s, %s) returning id, created_at",
            (subject.tenant, subject.kind, subject.digest(), requested_via, Jsonb(erased)),
        )
        audit: Any = await cur.fetchone()
    copies = 0
    if engines is not None and gone["queued"]:
        copies = await provider_copies.drain(db, engines, ids=list(gone["queued"]))
    return {
        "audit_id": audit["id"],
        "erased_at": audit["created_at"].isoformat(),
        "erased": erased,
        "provider_copies_deleted": copies,
        "provider_copies_pending": len(gone["queued"]) - copies,
    }


async def audit_log(db: Database, tenant: str, limit: int = 100) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        "select id, subject_kind, subject_hash, requested_via, erased, created_at from erasure_audit"
        " where tenant = %s order by id desc limit %s",
        (tenant, limit),
    )
    return [_plain(r) for r in rows]
