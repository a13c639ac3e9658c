"""Per-turn marks for the dashboard: tool calls, searches that found nothing, refusals, errors.

A mark holds no text, only what kind of thing happened in which run (the dashboard finds the
question by the run id in the conversation's messages). Marks are collected in memory and written
in one statement every ``interval`` seconds, off the turn's path; a crash loses the last second.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio

if TYPE_CHECKING:
    from proxy.store.db import Database

logger = logging.getLogger(__name__)

MarkKind = Literal["tool", "nothing_found", "refusal", "error"]
FLUSH_INTERVAL = 1.0  # seconds a mark waits to be written with others; a crash loses at most this


@dataclass(frozen=True, slots=True)
class Mark:
    tenant: str
    thread_id: str
    run_id: str
    kind: MarkKind
    name: str
    ok: bool = True


class TurnMarks:
    def __init__(self, db: Database, *, interval: float = FLUSH_INTERVAL) -> None:
        self.db = db
        self.interval = interval
        self._pending: list[Mark] = []
        self._changed = anyio.Event()

    def add(self, mark: Mark) -> None:
        self._pending.append(mark)
        self._changed.set()

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        rows = [(m.tenant, m.thread_id, m.run_id, m.kind, m.name[:200], m.ok) for m in batch]
        try:
            async with self.db.connection() as conn, conn.cursor() as cur:
                await cur.executemany(
                    "insert into turn_marks (tenant, thread_id, run_id, kind, name, ok)"
                    " values (%s, %s, %s, %s, %s, %s)",
                    rows,
                )
        except Exception:
            logger.warning("could not keep %d turn marks", len(batch), exc_info=True)

    async def run(self) -> None:
        while True:
            await self._changed.wait()
            self._changed = anyio.Event()
            await anyio.sleep(self.interval)  # gather a batch
            await self.flush()


KEEP_DAYS = 90  # the dashboard looks back this far at most
PRUNE_EVERY = 3600.0  # seconds between prunes of old marks and expired sessions


async def prune(db: Database) -> None:
    """Marks older than the dashboard reads, and expired console sessions; retried next time on failure."""
    try:
        await db.execute("delete from turn_marks where created_at < now() - make_interval(days => %s)", (KEEP_DAYS,))
        await db.execute("delete from console_sessions where expires_at < now()")
    except Exception:
        logger.warning("could not prune turn marks and console sessions", exc_info=True)


async def _pruning(db: Database) -> None:
    while True:
        await prune(db)
        await anyio.sleep(PRUNE_EVERY)


@asynccontextmanager
async def keeping_marks(db: Database) -> AsyncIterator[TurnMarks]:
    marks = TurnMarks(db)
    async with anyio.create_task_group() as tg:
        tg.start_soon(marks.run, name="turn marks")
        tg.start_soon(_pruning, db, name="turn marks pruning")
        try:
            yield marks
        finally:
            tg.cancel_scope.cancel()
            with anyio.CancelScope(shield=True):
                await marks.flush()


def mark(
    marks: TurnMarks | None,
    tenant: str,
    thread_id: str,
    run_id: str | None,
    kind: MarkKind,
    name: str,
    ok: bool = True,
) -> None:
    """Record a mark if the process keeps them (the console is part of the app); else nothing."""
    if marks is not None and run_id:
        marks.add(Mark(tenant, thread_id, run_id, kind, name, ok))


def note_tool_result(
    marks: TurnMarks | None, tenant: str, thread_id: str, run_id: str | None, name: str, result: Any
) -> None:
    """A tool's result that says it found nothing (``nothing_matches``, as the shop search)."""
    if isinstance(result, dict) and result.get("nothing_matches") is True:
        mark(marks, tenant, thread_id, run_id, "nothing_found", name)
