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
from proxy.console.takeover import Holder, holder, last_takeover

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
            batch = [frame("message", m) for m in await messages_after(hub.db, thread_id, after)]
            if batch:
                after = json.loads(batch[-1].split(b"data: ", 1)[1])["id"]
            current = _holder_data(await holder(hub.db, thread_id))
            if current != shown:
                batch.append(frame("holder", {"holder": current}))
                shown = current
            yield b"".join(batch) if batch else _PING
            await watch.wait(poll)


async def widget_events(hub: LiveHub, thread_id: str, *, after: int, heartbeat: float) -> AsyncIterator[bytes]:
    """What the visitor sees of a person: ``human.joined``, ``human.message``, ``human.left``.

    On connecting, the latest takeover's state comes first (joined if a person holds the thread,
    left if one did): the widget shows each note once (it remembers them), so a reconnect or a
    reload neither repeats nor misses one.
    """
    with hub.watch(thread_id) as watch:
        held = await holder(hub.db, thread_id)
        latest = held or await last_takeover(hub.db, thread_id)
        batch: list[bytes] = []
        if latest is not None:
            batch.append(frame("human.joined" if held is not None else "human.left", latest.public()))
        changed = True
        while True:
            if changed:
                current = await holder(hub.db, thread_id)
                if current is not None and (held is None or held.takeover_id != current.takeover_id):
                    if held is not None:
                        batch.append(frame("human.left", held.public()))
                    batch.append(frame("human.joined", current.public()))
                for message in await messages_after(hub.db, thread_id, after):
                    after = message["id"]
                    if message["role"] == "human":
                        batch.append(frame("human.message", {**message, "id": f"msg_{message['id']}"}))
                if held is not None and current is None:
                    batch.append(frame("human.left", held.public()))
                held = current
            yield b"".join(batch) if batch else _PING
            batch = []
            changed = await watch.wait(heartbeat)
