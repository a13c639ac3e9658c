"""The live streams of one conversation: the console's (everything) and the widget's (the person).

Both wake on the thread's NOTIFY (see :mod:`proxy.console.live`) and read what is new from the
database; the console's also looks every ``poll`` seconds, for the assistant's replies, which are
saved by the turn without an announcement.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from proxy.console.inbox import messages_after
from proxy.console.live import LiveHub
from proxy.console.takeover import Holder, holder

_PING = b": ping\r\n\r\n"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def frame(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\r\ndata: {_dumps(data)}\r\n\r\n".encode()


def _holder_data(found: Holder | None) -> dict[str, Any] | None:
    return None if found is None else {**found.public(), "staff_id": found.staff_id}


async def console_events(hub: LiveHub, thread_id: str, *, after: int, poll: float) -> AsyncIterator[bytes]:
    """``message`` for each new message, ``holder`` whenever who holds the thread changes."""
    shown: Any = ...  # nothing sent yet
    with hub.watch(thread_id) as watch:
        while True:
            messages = await messages_after(hub.db, thread_id, after)
            batch = [frame("message", m) for m in messages]
            if messages:
                after = messages[-1]["id"]
            current = _holder_data(await holder(hub.db, thread_id))
            if current != shown:
                batch.append(frame("holder", {"holder": current}))
                shown = current
            yield b"".join(batch) if batch else _PING
            await watch.wait(poll)


async def _takeovers(hub: LiveHub, thread_id: str) -> list[dict[str, Any]]:
    rows = await hub.db.fetch_all(
        "select id, staff_name, from_message, to_message, ended_at is not null as ended from takeovers"
        " where thread_id = %s order by id desc limit 20",
        (thread_id,),
    )
    rows.reverse()
    return rows


def _notes(rows: list[dict[str, Any]], sent: set[str], kind: str) -> list[bytes]:
    """``human.joined`` / ``human.left`` for the takeovers not told yet, with the message each follows."""
    frames = []
    for row in rows:
        if kind == "left" and not row["ended"]:
            continue
        key = f"{row['id']}:{kind}"
        if key in sent:
            continue
        sent.add(key)
        anchor = row["from_message"] if kind == "joined" else row["to_message"]
        data = {"takeover_id": row["id"], "name": row["staff_name"], "after_message": f"msg_{anchor}"}
        frames.append(frame(f"human.{kind}", data))
    return frames


async def widget_events(hub: LiveHub, thread_id: str, *, after: int, heartbeat: float) -> AsyncIterator[bytes]:
    """What the visitor sees of a person: ``human.joined``, ``human.message``, ``human.left``.

    On connecting, every takeover of the thread is told first (each note names the message it
    follows, so a restored history shows it in place; the widget shows a note once); then the
    changes, as they happen: who joined, their messages, who left.
    """
    sent: set[str] = set()
    with hub.watch(thread_id) as watch:
        rows = await _takeovers(hub, thread_id)
        batch = _notes(rows, sent, "joined") + _notes(rows, sent, "left")
        while True:
            yield b"".join(batch) if batch else _PING
            if not await watch.wait(heartbeat):
                batch = []
                continue
            rows = await _takeovers(hub, thread_id)
            batch = _notes(rows, sent, "joined")
            for message in await messages_after(hub.db, thread_id, after):
                after = message["id"]
                if message["role"] == "human":
                    batch.append(frame("human.message", {**message, "id": f"msg_{message['id']}"}))
            batch += _notes(rows, sent, "left")
