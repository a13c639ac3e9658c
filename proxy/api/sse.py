"""A run's events as SSE: the v1 format, and the old NestJS service's bare ``data:`` frames."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from litestar.response import ServerSentEventMessage

from proxy.observability.metrics import OPEN_STREAMS
from proxy.store.event_log import EventLog
from proxy.store.threads import StoredMessage, ThreadStore
from proxy.turns.channel import PING
from proxy.turns.manager import TurnManager
from proxy.turns.runner import ActiveRun

_PING = ServerSentEventMessage(comment="ping", data=None)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


async def v1_events(
    run: ActiveRun, turns: TurnManager, *, heartbeat: float, start: int = 0
) -> AsyncIterator[ServerSentEventMessage]:
    """Follow the run; if the client goes away first, let the manager decide the run's fate."""
    turns.attach(run)
    saw_done = False
    open_streams = OPEN_STREAMS.labels(run.job.tenant)
    open_streams.inc()
    try:
        async for event in run.channel.follow(start, heartbeat=heartbeat):
            if event is PING:
                yield _PING
            else:
                yield ServerSentEventMessage(data=event.json, event=event.name, id=event.id)
                saw_done = event.name == "done"
    finally:
        open_streams.dec()
        turns.detach(run, saw_done=saw_done)


# -- the old protocol ----------------------------------------------------------------------------


def _text(value: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": value, "annotations": []}}]


def compat_message(message: StoredMessage, thread_id: str) -> dict[str, Any]:
    """A stored message in the Assistants API's message shape, which old widgets received."""
    return {
        "id": f"msg_{message.id}",
        "object": "thread.message",
        "created_at": int(message.created_at.timestamp()),
        "thread_id": thread_id,
        "role": message.role,
        "content": _text(message.content),
        "assistant_id": None,
        "run_id": message.run_id,
        "attachments": [],
        "metadata": {},
    }


def _frame(payload: dict[str, Any]) -> ServerSentEventMessage:
    return ServerSentEventMessage(data=_dumps(payload), sep="\n")


async def compat_events(
    run: ActiveRun, turns: TurnManager, store: ThreadStore
) -> AsyncIterator[ServerSentEventMessage]:
    """The old frames: ``{event, status, content, delta}``, ending with ``{"event":"end","messages"}``.

    No heartbeat comments: the old widget parsed every chunk as one JSON frame.
    """
    in_tools = False
    saw_done = False
    turns.attach(run)
    try:
        async for event in run.channel.follow():
            if event is PING:
                continue
            name, data = event.name, event.data
            if name == "tool.started":
                if not in_tools:
                    in_tools = True
                    yield _frame({"event": "thread.run.requires_action", "status": "requires_action"})
                continue
            in_tools = False
            if name == "run.started":
                yield _frame({"event": "thread.run.created", "status": "queued"})
            elif name == "message.delta":
                delta = {"content": [{"index": 0, "type": "text", "text": {"value": data["delta"], "annotations": []}}]}
                yield _frame({"event": "thread.message.delta", "delta": delta})
            elif name == "message.completed":
                yield _frame(
                    {"event": "thread.message.completed", "status": "completed", "content": _text(data["content"])}
                )
            elif name == "run.completed":
                yield _frame({"event": "thread.run.completed", "status": "completed"})
            elif name == "error":
                yield _frame({"event": "system.error", "status": "error", "content": data["message"]})
            elif name == "done":
                messages = await store.messages(run.thread_id, newest_first=True, limit=100)
                yield _frame({"event": "end", "messages": [compat_message(m, run.thread_id) for m in messages]})
                saw_done = True
    finally:
        turns.detach(run, saw_done=saw_done)


async def logged_events(
    log: EventLog,
    run_id: str,
    *,
    after: int,
    heartbeat: float,
    poll_interval: float = 0.25,
    settle: float = 3.0,
) -> AsyncIterator[ServerSentEventMessage]:
    """Resume a run served by another worker from the event log, until its ``done``.

    The run's worker starts writing the log only once it notices the lost connection, which may
    be after the reconnect arrives here (even after the run ended): until then this waits while
    the run is live, and for ``settle`` seconds after.
    """
    quiet = 0.0
    waited_gone = 0.0
    while True:
        events, state = await log.read(run_id, after)
        for event in events:
            after = event.seq
            yield ServerSentEventMessage(data=event.json, event=event.name, id=event.id)
        if events:
            quiet = 0.0
            if events[-1].name == "done":
                return
        elif state == "finished":
            return
        elif state == "gone" and waited_gone >= settle:
            yield ServerSentEventMessage(data=_dumps(_NOT_RESUMABLE), event="error")
            yield ServerSentEventMessage(data="{}", event="done")
            return
        if state == "gone":
            waited_gone += poll_interval
        await log.touch_reader(run_id)
        await anyio.sleep(poll_interval)
        quiet += poll_interval
        if quiet >= heartbeat:
            quiet = 0.0
            yield _PING


_NOT_RESUMABLE = {
    "code": "not_resumable",
    "message": "This reply finished without being kept for resuming; read the thread's messages.",
    "retryable": False,
}
