"""The reply stream of ``POST /open-ai/process-message``, shaped for the old service's widgets.

Widgets deployed for the old NestJS service read the stream with ``fetch`` and call
``JSON.parse(chunk.slice(6))`` once per ``reader.read()``. Whatever a read holds besides exactly
one ``data: <json>`` frame is lost: two frames in one read fail to parse together, and so does
half a frame. Losing the final ``thread.message.completed`` loses the end of the reply. Those
widgets also print the name of any event they do not know while no reply text has arrived, so an
``end`` frame after an early error would replace the error with the word "end". This stream
keeps their view intact:

- **One frame per write, paced.** Each frame is its own write (one HTTP chunk), and two writes are
  at least ``gap`` seconds apart (``PROXY_COMPAT_FRAME_GAP``, 40 ms by default). Reads do not
  follow writes by themselves: a browser hands the page whatever bytes have arrived when the
  page's reader asks, so two frames that arrive while the page is still busy with the previous
  one (rendering it, or waiting for the CPU) are read together. The gap gives the page that long
  to come back for the next read; a browser on an ordinary machine needs a few milliseconds. The
  two frames that decide what the widget finally shows, ``thread.message.completed`` (the whole
  text) and ``system.error``, get twice the gap on both sides. Text that arrives during a gap is
  merged into one ``thread.message.delta``, so pacing holds the reply back by at most one gap
  however fast the provider streams, and ends it about 160 ms after the provider did.
  A reverse proxy keeps the frames apart as long as it passes the stream on unbuffered and
  uncompressed (nginx: ``proxy_buffering off`` and ``gzip off`` for ``/open-ai/``; see
  docs/production.md): it forwards each chunk as it reads it, and the chunks arrive a gap apart.
- **Nothing before the first text.** Like the old service, which wrote nothing until the
  provider answered, the response (status line included) waits for the reply's first text. A
  failure before it answers an HTTP 5xx JSON error, which the old widget shows as its own error.
  A failure after text ends with ``system.error`` (the old widget turns the reply red) and ``end``.
- **Only the old frames.** ``thread.run.created``, ``thread.message.delta``,
  ``thread.message.completed``, ``thread.run.requires_action`` (once per round of tool calls),
  ``system.error`` and ``end``; no ``thread.run.completed``, no comments, no ``event:``/``id:``.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import anyio
from litestar import Request
from litestar.response import Stream

from proxy.api.errors import ApiError
from proxy.api.streaming import FrameStream
from proxy.store.threads import StoredMessage, ThreadStore
from proxy.turns import events
from proxy.turns.channel import Changed
from proxy.turns.events import Event
from proxy.turns.manager import TurnManager
from proxy.turns.runner import ActiveRun

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# the old service's headers (X-Accel-Buffering keeps nginx from buffering; browsers never see it)
HEADERS = {"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"}
MESSAGES_IN_END = 20  # the ``end`` frame lists the newest messages: the provider's first page, as the old service did

# a failure before any text becomes this HTTP status (5xx: the old widget shows its own error)
_STATUS = {
    "upstream_rate_limited": 503,
    "upstream_quota": 503,
    "upstream_unavailable": 503,
    "upstream_timeout": 504,
    "turn_timeout": 504,
    "cancelled": 503,
    "internal": 500,
}


# the frames that decide what the old widget shows in the end: more room on both sides
_FINAL = frozenset({"thread.message.completed", "system.error"})


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


def frame(payload: dict[str, Any]) -> bytes:
    """One bare ``data:`` frame, as the old service wrote it."""
    return b"data: " + _dumps(payload).encode() + b"\n\n"


def delta_payload(text: str) -> dict[str, Any]:
    delta = {"content": [{"index": 0, "type": "text", "text": {"value": text, "annotations": []}}]}
    return {"event": "thread.message.delta", "delta": delta}


def error_status(code: str) -> int:
    return _STATUS.get(code, 502 if code.startswith("upstream_") else 500)


class _End:
    """Marks the place of the ``end`` frame (its messages are read when it is due)."""


END = _End()
Pending = str | dict[str, Any] | _End  # text of a delta (merged while waiting), a ready payload, the end


class OldFrames:
    """The run's events turned into the old frames, queued until written.

    Consecutive text deltas wait as one string, so every delta that arrives while a frame's gap
    runs goes out in one ``thread.message.delta``.
    """

    def __init__(self, run: ActiveRun) -> None:
        self.run = run
        self.pending: deque[Pending] = deque()
        self.position = 0
        self.has_text = False
        self.error: dict[str, Any] | None = None
        self.ended = False  # ``done`` (or the channel's close) was read
        self._in_tools = False

    def pull(self) -> Changed | None:
        """Queue what the run published since the last pull; what to wait on if there was nothing."""
        events, closed, changed = self.run.channel.snapshot(self.position)
        self.position += len(events)
        for event in events:
            self._add(event)
        if closed and not self.ended:  # never without ``done``; but then there is nothing more to read
            self.ended = True
        if events or closed:
            return None
        return changed

    def _add(self, event: Event) -> None:
        name, data = event.name, event.data
        if name == events.TOOL_STARTED:
            if not self._in_tools:  # one requires_action per round of tool calls
                self._in_tools = True
                self.pending.append({"event": "thread.run.requires_action", "status": "requires_action"})
            return
        if name in (events.TOOL_FINISHED, events.HANDOFF, events.LEAD_CAPTURED, events.RUN_COMPLETED):
            return  # the old service had no such frames (its run.completed became ``end``)
        self._in_tools = False
        if name == events.RUN_STARTED:
            self.pending.append({"event": "thread.run.created", "status": "queued"})
        elif name == events.MESSAGE_DELTA:
            if data["delta"]:
                self.has_text = True
                last = self.pending[-1] if self.pending else None
                if isinstance(last, str):
                    self.pending[-1] = last + data["delta"]
                else:
                    self.pending.append(data["delta"])
        elif name == events.MESSAGE_COMPLETED:
            self.has_text = self.has_text or bool(data["content"])
            content = _text(data["content"])
            self.pending.append({"event": "thread.message.completed", "status": "completed", "content": content})
        elif name == events.ERROR:
            self.error = data
            self.pending.append({"event": "system.error", "status": "error", "content": data["message"]})
        elif name == events.DONE:
            self.ended = True
            self.pending.append(END)

    async def until_text(self) -> None:
        """Wait until the reply has text or the run has ended."""
        while not (self.has_text or self.ended):
            if (changed := self.pull()) is not None:
                await changed.wait()

    async def next(self) -> Pending | None:
        """The next frame to write; None once the run is over and everything is written."""
        while True:
            changed = self.pull()  # first, so that text published meanwhile joins the queued text
            if self.pending:
                return self.pending.popleft()
            if self.ended:
                return None
            if changed is not None:
                await changed.wait()


async def _cancel_if_client_leaves(request: Request[Any, Any, Any], run: ActiveRun) -> None:
    """While nothing is written yet: a visitor who went away will not read this reply (an old
    client cannot resume one), so it is stopped."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            run.cancel()
            return


async def old_reply(
    run: ActiveRun, request: Request[Any, Any, Any], turns: TurnManager, store: ThreadStore, *, gap: float
) -> Stream:
    """The response for a started run: the paced stream once there is text, else its 5xx error."""
    frames = OldFrames(run)
    async with anyio.create_task_group() as watch:
        watch.start_soon(_cancel_if_client_leaves, request, run)
        await frames.until_text()
        watch.cancel_scope.cancel()
    if not frames.has_text and frames.error is not None:
        while not frames.ended:  # answer once the thread's lock is released: the next message is welcome
            if (changed := frames.pull()) is not None:
                await changed.wait()
        error = frames.error
        raise ApiError(error_status(error["code"]), error["code"], error["message"], retryable=error["retryable"])
    return FrameStream(_paced(frames, turns, store, gap=gap), media_type="text/event-stream", headers=HEADERS)


async def _paced(frames: OldFrames, turns: TurnManager, store: ThreadStore, *, gap: float) -> AsyncIterator[bytes]:
    """Write the queued frames one per write, ``gap`` seconds apart, then ``end`` with the messages."""
    run = frames.run
    turns.attach(run)
    saw_done = False
    try:
        while (item := await frames.next()) is not None:
            if isinstance(item, _End):
                messages = await store.messages(run.thread_id, newest_first=True, limit=MESSAGES_IN_END)
                yield frame({"event": "end", "messages": [compat_message(m, run.thread_id) for m in messages]})
                saw_done = True
                return
            final = isinstance(item, dict) and item["event"] in _FINAL
            if final:
                await anyio.sleep(gap)  # with the gap after the previous frame: twice the gap before it
            yield frame(delta_payload(item) if isinstance(item, str) else item)
            await anyio.sleep(2 * gap if final else gap)
    finally:
        turns.detach(run, saw_done=saw_done)
