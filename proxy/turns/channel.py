"""A run's events, kept in order so that one or more readers can follow them.

The engine task publishes; the SSE response (or a later reconnect) follows from any position.
Keeping the list also gives a reconnect with ``Last-Event-ID`` what it missed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

import anyio

from proxy.turns.events import Event


class _Ping:
    """Marker yielded by :meth:`RunChannel.follow` after a quiet interval."""


PING: Final = _Ping()


class RunChannel:
    def __init__(self, max_events: int = 10_000) -> None:
        self.events: list[Event] = []
        self.closed = False
        self._max_events = max_events
        self._changed = anyio.Event()

    def publish(self, event: Event) -> None:
        if self.closed:
            return
        if len(self.events) < self._max_events or event.name in ("error", "done"):
            self.events.append(event)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def follow(self, start: int = 0, *, heartbeat: float | None = None) -> AsyncIterator[Event | _Ping]:
        """Yield events from index ``start`` until the channel closes; ``PING`` when quiet."""
        position = start
        while True:
            changed = self._changed
            if position < len(self.events):
                event = self.events[position]
                position += 1
                yield event
                continue
            if self.closed:
                return
            if heartbeat is None:
                await changed.wait()
                continue
            with anyio.move_on_after(heartbeat) as quiet:
                await changed.wait()
            if quiet.cancelled_caught:
                yield PING
