"""The events of runs that lost their reader, in Postgres, so any worker can resume them.

The worker running a turn copies its events here once its reader drops (see
``TurnManager.detach``); a reconnect on any other worker follows the run from event N with
:meth:`EventLog.resume`. Whether a run is live somewhere is the thread store's to say (the run's
lease on its thread), asked within the same transaction as the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import anyio

from proxy.store.db import Database
from proxy.store.threads import ThreadStore
from proxy.turns.events import DONE, ERROR, Batches, Event

RunState = Literal["running", "finished", "unlogged", "gone"]
"""``unlogged``: live on some worker that has not started logging it (its reader is still there)."""

POLL_INTERVAL = 0.25  # seconds between two reads of a run followed from the log
RESUME_SETTLE = 2.0  # seconds a resume waits for a run to show up (its worker noticing the drop)
LOG_SETTLE = 3.0  # seconds a follower waits for a run that is gone to show up in the log

NOT_RESUMABLE: dict[str, Any] = {
    "code": "not_resumable",
    "message": "This reply finished without being kept for resuming; read the thread's messages.",
    "retryable": False,
}


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
    def __init__(self, db: Database, *, keep_seconds: float = 3600, threads: ThreadStore | None = None) -> None:
        self.db = db
        self.keep_seconds = keep_seconds
        self.threads = threads or ThreadStore(db)

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
            {"runs": list(run_ids), "error": Event.make("", 0, ERROR, error).json},
        )

    async def run_thread(self, run_id: str) -> str | None:
        """The thread of a run that is logged, or still holds its thread's lock (live elsewhere)."""
        row = await self.db.fetch_one("select thread_id from run_streams where run_id = %s", (run_id,))
        return row["thread_id"] if row else await self.threads.held_by(run_id)

    async def read(self, run_id: str, after_seq: int) -> tuple[list[Event], RunState]:
        """Events after ``after_seq`` and the run's state, read in one transaction."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "select seq, name, data from run_events where run_id = %s and seq > %s order by seq",
                (run_id, after_seq),
            )
            rows = await cur.fetchall()
            cur = await conn.execute("select finished from run_streams where run_id = %s", (run_id,))
            stream = await cur.fetchone()
            state: RunState
            if stream is not None:
                state = "finished" if stream["finished"] else "running"
            else:
                state = "unlogged" if await self.threads.held_by(run_id, conn=conn) else "gone"
        return [Event.stored(run_id, r["seq"], r["name"], r["data"]) for r in rows], state

    # -- following a run from event N --------------------------------------------------------------

    async def resume(
        self, run_id: str, thread_id: str, *, after: int, heartbeat: float, settle: float = RESUME_SETTLE
    ) -> Batches | None:
        """Run ``run_id`` of ``thread_id`` from event ``after`` on, followed here until its ``done``.

        The run is found if it is logged, or live on some worker (which starts logging it once it
        notices its reader's connection dropped): ``settle`` seconds are allowed for that. None if
        there is no such run of that thread.
        """
        waited = 0.0
        while (found := await self.run_thread(run_id)) is None and waited < settle:
            await anyio.sleep(POLL_INTERVAL)
            waited += POLL_INTERVAL
        if found != thread_id:
            return None
        return self.follow(run_id, after=after, heartbeat=heartbeat)

    async def follow(
        self,
        run_id: str,
        *,
        after: int,
        heartbeat: float,
        poll_interval: float = POLL_INTERVAL,
        settle: float = LOG_SETTLE,
    ) -> Batches:
        """A run served by another worker, from the log, until its ``done``; None: quiet for ``heartbeat``.

        The run's worker starts writing the log only once it notices the lost connection, which may
        be after the reconnect arrives here (even after the run ended): until then this waits while
        the run is live, and for ``settle`` seconds after. A run that was never logged ends with an
        ``error`` (``not_resumable``) and ``done`` of sequence number 0: not the run's own events.
        """
        quiet = 0.0
        waited_gone = 0.0
        while True:
            events, state = await self.read(run_id, after)
            if events:
                after = events[-1].seq
                yield events
                quiet = 0.0
                if events[-1].name == DONE:
                    return
            elif state == "finished":
                return
            elif state == "gone" and waited_gone >= settle:
                yield [Event.make(run_id, 0, ERROR, NOT_RESUMABLE), Event.make(run_id, 0, DONE, {})]
                return
            if state == "gone":
                waited_gone += poll_interval
            await self.touch_reader(run_id)
            await anyio.sleep(poll_interval)
            quiet += poll_interval
            if quiet >= heartbeat:
                quiet = 0.0
                yield None

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
