"""The statements that open a turn: the lease on the thread, the visitor's message, the history.

An existing thread's turn opens with :data:`OPEN_TURN`; a thread's first message creates the thread
locked with :data:`NEW_TURNS`, for all the first messages that arrived together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from proxy.store.arrays import array_literal
from proxy.store.thread_records import COLUMNS
from proxy.visitors import Visitor

# One statement, one round trip: the lease, the visitor's message and the history before it.
# ``seen`` is the thread in the statement's snapshot (none: not this caller's thread: another
# tenant's, another visitor's, or a signed-in user's that this request's user is not); ``holder``
# the person of the staff holding it, if one does (no turn then: with ``for_holder`` the message is
# stored for them instead, which the same statement reports); ``locked``
# the lease, taken only on that same version of the row (none: busy). The history is read in the
# snapshot, so it excludes the message stored here. Were the row changed after the snapshot was
# taken (an expired turn's late end, releasing the lock while its reply is being written), the
# snapshot would miss that reply: the ``xmin`` check then makes it a busy thread instead.
# A lease that lapsed (its worker died without releasing it) is taken over: the dead turn's reply so
# far (``draft``, written with each renewal) is stored before the new message, in that order.
# The commit does not wait for the disk (``synchronous_commit`` applies as set when a transaction
# commits, and here it is set for this one only): a lease lost in a database crash frees itself,
# and the message is made durable by the turn's final commit, which does wait, as the log is
# flushed in order. A crash of the database in the fraction of a second before that flush can
# lose the message of a turn whose reply could not be saved either. A message kept for the person
# holding the thread has no turn to follow: it commits as any other statement does.
OPEN_TURN = f"""
with seen as (
    select {COLUMNS}, xmin, active_run as held_by, draft as held_draft from threads
    where id = %(thread)s and tenant = %(tenant)s and (visitor is null or visitor is not distinct from %(visitor)s)
      and (visitor_user_id is null or visitor_user_id = %(user)s)
), holder as (
    -- a person of the staff holds the thread: no turn (see proxy.console.takeover)
    select k.id, k.staff_id, k.staff_name, k.started_at from takeovers k
    where k.thread_id = (select id from seen) and k.ended_at is null
), quick as (
    select set_config('synchronous_commit',
        case when exists (select from holder) then current_setting('synchronous_commit') else 'off' end, true
    ) as setting
), locked as (
    update threads set active_run = %(run)s, locked_until = now() + make_interval(secs => %(lease)s), draft = null
    where id = (select id from seen) and xmin = (select xmin from seen)
      and (active_run is null or locked_until < now()) and (select setting from quick) is not null
      and not exists (select from holder)
    returning id
), posted as (
    insert into messages (thread_id, role, content, run_id)
    select thread_id, role, content, run_id from (
        select seen.id as thread_id, 'assistant' as role, seen.held_draft as content, seen.held_by as run_id, 1 as place
        from seen join locked on locked.id = seen.id
        where seen.held_by is not null and seen.held_draft <> ''
        union all
        select id, 'user', %(text)s, %(run)s, 2 from locked where %(text)s::text is not null
        union all  -- held: kept for the person holding the thread, with no turn
        select seen.id, 'user', %(text)s, null, 2 from seen, holder
        where %(for_holder)s and %(text)s::text is not null
    ) taken order by place
    returning id, role
), told as (
    update takeovers set briefed = true
    where thread_id = (select id from locked) and ended_at is not null and not briefed
    returning from_message, to_message
)
select seen.*, locked.id is not null as acquired,
    (select id from posted where role = 'user') as user_message_id,
    holder.id as takeover_id, holder.staff_id, holder.staff_name, holder.started_at as held_since,
    case when locked.id is not null then seen.held_by end as abandoned_run,
    (select json_agg(json_build_array(b.role, b.content, b.author) order by b.id) from (
        select m.id, m.role, m.content, m.author from messages m, told
        where m.thread_id = locked.id and m.id > told.from_message and m.id <= told.to_message
    ) b) as briefing,
    (select json_agg(json_build_array(h.role, h.content) order by h.id) from (
        select m.id, m.role, m.content from messages m
        where m.thread_id = locked.id order by m.id desc limit %(history)s
    ) h) as history
from seen left join locked on true left join holder on true
"""

# First messages that create their threads, in one statement for all that arrived together (see
# proxy.store.batching): each thread, born locked for its turn (the same lease as ``OPEN_TURN``'s),
# and its visitor's message. A new thread has no history, no takeover and no lapsed lease to take
# over. The commit does not wait for the disk, as in ``OPEN_TURN``: each turn's final commit,
# which does, makes its own durable.
NEW_TURNS = f"""
with quick as (
    select set_config('synchronous_commit', 'off', true) as setting
), asked as (
    select * from unnest(%(threads)s::text[], %(tenants)s::text[], %(visitors)s::text[], %(kinds)s::text[],
        %(users)s::text[], %(emails)s::text[], %(engines)s::text[], %(runs)s::text[], %(texts)s::text[],
        %(leases)s::float8[]) as a(id, tenant, visitor, kind, user_id, email, engine, run, text, lease)
), created as (
    insert into threads (
        id, tenant, visitor, visitor_kind, visitor_user_id, visitor_email, engine, active_run, locked_until)
    select a.id, a.tenant, a.visitor, a.kind, a.user_id, a.email, a.engine, a.run,
        now() + make_interval(secs => a.lease)
    from asked a, quick where quick.setting is not null
    returning {COLUMNS}
), posted as (
    insert into messages (thread_id, role, content, run_id)
    select a.id, 'user', a.text, a.run from asked a join created c on c.id = a.id
    returning id, thread_id
)
select created.*, posted.id as user_message_id from created join posted on posted.thread_id = created.id
"""


@dataclass(frozen=True, slots=True)
class NewTurn:
    """A thread's first message, to be created with its thread locked for the turn."""

    thread_id: str
    tenant: str
    visitor: Visitor
    engine: str
    run_id: str
    lease_seconds: float
    user_text: str


def new_turns_params(asked: Sequence[NewTurn]) -> dict[str, Any]:
    """:data:`NEW_TURNS`' parameters: one array per column, one element per new thread."""
    return {
        "threads": array_literal([new.thread_id for new in asked]),
        "tenants": array_literal([new.tenant for new in asked]),
        "visitors": array_literal([new.visitor.binding for new in asked]),
        "kinds": array_literal([new.visitor.kind for new in asked]),
        "users": array_literal([new.visitor.user_id for new in asked]),
        "emails": array_literal([new.visitor.email for new in asked]),
        "engines": array_literal([new.engine for new in asked]),
        "runs": array_literal([new.run_id for new in asked]),
        "texts": array_literal([new.user_text for new in asked]),
        "leases": array_literal([new.lease_seconds for new in asked]),
    }
