"""The events of runs that lost their reader, in Postgres, so any worker can resume them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import anyio

from proxy.store.db import Database
from proxy.turns.events import Event

RunState = Literal["running", "finished", "unlogged", "gone"]
"""``unlogged``: live on some worker that has not started logging it (its reader is still there)."""


_END_ABANDONED = """
with open as (
    select s.run_id, coalesce(max(e.seq), 0) as last
    from run_streams s left join run_events e on e.run_id = s.run_id
    where s.run_id = any(%(runs)s) and not s.finished
    group by s.run_id
), ended as (
    insert into run_events (run_id, seq, name, data)
    select run_id, last + 1, 'error', %(error)s from open
    union all select run_id, last + 2, 'done', '{}' from open
    on conflict do nothing
)
update run_streams set finished = true where run_id in (select run_id from open)
"""


class EventLog:
    def __init__(self, db: Database, *, keep_seconds: float = 3600) -> None:
        self.db = db
        self.keep_seconds = keep_seconds

    async def open(self, run_id: str, thread_id: str) -> None:
        await self.db.execute(
            "insert into run_streams (run_id, thread_id) values (%s, %s) on conflict do nothing", (run_id, thread_id)
        )

    async def append(self, run_id: str, events: Sequence[Event]) -> None:
        if not events:
            return
        async with self.db.connection() as conn, conn.cursor() as cur:
            await cur.executemany(
                "insert into run_events (run_id, seq, name, data) values (%s, %s, %s, %s) on conflict do nothing",
                [(run_id, e.seq, e.name, e.json) for e in events],
            )

    async def finish(self, run_id: str) -> None:
        await self.db.execute("update run_streams set finished = true where run_id = %s", (run_id,))

    async def end_abandoned(self, run_ids: Sequence[str], error: dict[str, object]) -> int:
        """End the logged streams of runs whose worker died: ``error`` and ``done`` after the last
        event saved, so that a reader following one gets a proper end. Returns how many ended."""
        if not run_ids:
            return 0
        return await self.db.execute(
            _END_ABANDONED,
            {"runs": list(run_ids), "error": Event.make("", 0, "error", error).json},
        )

    async def run_thread(self, run_id: str) -> str | None:
        """The thread of a run that is logged, or still holds its thread's lock (live elsewhere)."""
        row = await self.db.fetch_one(
            "select thread_id from run_streams where run_id = %s"
            " union all select id from threads where active_run = %s and locked_until > now() limit 1",
            (run_id, run_id),
        )
        return row["thread_id"] if row else None

    async def wait_for_run(self, run_id: str, *, settle: float, poll_interval: float = 0.25) -> str | None:
        """Like :meth:`run_thread`, allowing ``settle`` seconds for its worker to notice the drop."""
        waited = 0.0
        while (thread_id := await self.run_thread(run_id)) is None and waited < settle:
            await anyio.sleep(poll_interval)
            waited += poll_interval
        return thread_id

    async def read(self, run_id: str, after_seq: int) -> tuple[list[Event], RunState]:
        """Events after ``after_seq`` and the run's state, read in one snapshot."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "select seq, name, data from run_events where run_id = %s and seq > %s order by seq",
                (run_id, after_seq),
            )
            rows = await cur.fetchall()
            cur = await conn.execute(
                "select case when s.finished then 'finished' else 'running' end as state"
                " from run_streams s where s.run_id = %s"
                " union all select 'unlogged' from threads where active_run = %s and locked_until > now()"
                " limit 1",
                (run_id, run_id),
            )
            state = await cur.fetchone()
        events = [Event.stored(run_id, r["seq"], r["name"], r["data"]) for r in rows]
        return events, state["state"] if state else "gone"

    async def touch_reader(self, run_id: str) -> None:
        await self.db.execute("update run_streams set reader_seen_at = now() where run_id = %s", (run_id,))

    async def reader_active(self, run_id: str, within_seconds: float) -> bool:
        row = await self.db.fetch_one(
            "select 1 from run_streams where run_id = %s and reader_seen_at > now() - make_interval(secs => %s)",
            (run_id, within_seconds),
        )
        return row is not None

    async def prune(self) -> int:
        return await self.db.execute(
            "delete from run_streams where created_at < now() - make_interval(secs => %s)", (self.keep_seconds,)
        )
