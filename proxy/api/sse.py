"""A run's events as SSE in the v1 format (the old service's frames are in ``old_stream``)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import anyio
from litestar.response import Stream

from proxy.api.streaming import FrameStream
from proxy.observability.metrics import OPEN_STREAMS
from proxy.store.event_log import EventLog
from proxy.turns.events import Event
from proxy.turns.manager import TurnManager
from proxy.turns.runner import ActiveRun

_PING = b": ping\r\n\r\n"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# a run's events in batches, as a client follows them; None: quiet for a heartbeat
Batches = AsyncGenerator[list[Event] | None, None]
_SSE_HEADERS = {"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"}


def event_stream(frames: AsyncIterator[bytes]) -> Stream:
    """An SSE response from ready-made frames.

    Litestar's ``ServerSentEvent`` builds a message object per event, encodes it through a
    ``StringIO`` and regular expressions, and starts each response with a hop to a worker thread;
    a run's frames are simple enough to write directly (the bytes on the wire are the same). The
    response writes them from the request's own task (see :mod:`proxy.api.streaming`).
    """
    return FrameStream(frames, media_type="text/event-stream", headers=_SSE_HEADERS)


def _v1_frame(event: Event) -> bytes:
    # event.json is compact JSON: one line, so one ``data:`` field
    return f"id: {event.id}\r\nevent: {event.name}\r\ndata: {event.json}\r\n\r\n".encode()


def _unnumbered_frame(name: str, data: dict[str, Any]) -> bytes:
    """An event that is not one of the run's (no ``id``: a resume could not continue from it)."""
    return f"event: {name}\r\ndata: {_dumps(data)}\r\n\r\n".encode()


async def follow_run(run: ActiveRun, turns: TurnManager, *, heartbeat: float | None, start: int = 0) -> Batches:
    """The run's events in batches (None: quiet for ``heartbeat`` seconds), for every client protocol.

    If the client goes away first, the manager decides the run's fate (see ``TurnManager.detach``).
    """
    turns.attach(run)
    saw_done = False
    open_streams = OPEN_STREAMS.labels(run.job.tenant)
    open_streams.inc()
    try:
        # events published while this response waited come as one batch: under load, one send
        # (through every middleware, then a syscall) per batch instead of one per token
        async for batch in run.channel.follow(start, heartbeat=heartbeat):
            yield batch
            if batch is not None:
                saw_done = batch[-1].name == "done"
    finally:
        open_streams.dec()
        turns.detach(run, saw_done=saw_done)


async def v1_frames(batches: Batches) -> AsyncIterator[bytes]:
    """Batches of a run's events as v1 SSE."""
    async with aclosing(batches):
        async for batch in batches:
            if batch is None:  # quiet for a heartbeat
                yield _PING
            else:
                yield b"".join(_v1_frame(e) if e.seq else _unnumbered_frame(e.name, e.data) for e in batch)


def v1_events(run: ActiveRun, turns: TurnManager, *, heartbeat: float, start: int = 0) -> AsyncIterator[bytes]:
    """Follow the run as v1 SSE."""
    return v1_frames(follow_run(run, turns, heartbeat=heartbeat, start=start))


async def logged_batches(
    log: EventLog,
    run_id: str,
    *,
    after: int,
    heartbeat: float,
    poll_interval: float = 0.25,
    settle: float = 3.0,
) -> Batches:
    """A run served by another worker, from the event log, until its ``done``.

    The run's worker starts writing the log only once it notices the lost connection, which may
    be after the reconnect arrives here (even after the run ended): until then this waits while
    the run is live, and for ``settle`` seconds after. A run that was never logged ends with an
    ``error`` (``not_resumable``) and ``done`` of sequence number 0: not the run's own events.
    """
    quiet = 0.0
    waited_gone = 0.0
    while True:
        events, state = await log.read(run_id, after)
        if events:
            after = events[-1].seq
            yield events
            quiet = 0.0
            if events[-1].name == "done":
                return
        elif state == "finished":
            return
        elif state == "gone" and waited_gone >= settle:
            yield [Event.make(run_id, 0, "error", _NOT_RESUMABLE), Event.make(run_id, 0, "done", {})]
            return
        if state == "gone":
            waited_gone += poll_interval
        await log.touch_reader(run_id)
        await anyio.sleep(poll_interval)
        quiet += poll_interval
        if quiet >= heartbeat:
            quiet = 0.0
            yield None


_NOT_RESUMABLE = {
    "code": "not_resumable",
    "message": "This reply finished without being kept for resuming; read the thread's messages.",
    "retryable": False,
}
