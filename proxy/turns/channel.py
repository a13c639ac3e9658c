"""A run's events, kept in order so that one or more readers can follow them.

The engine task publishes; the SSE response (or a reconnect with ``Last-Event-ID``) follows from
any position. ``events[i]`` has sequence number ``i + 1``. The list lives as long as the run; its
length is bounded by the turn timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio

from proxy.turns.events import Event


class RunChannel:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.closed = False
        self._changed = anyio.Event()

    def publish(self, event: Event) -> None:
        if self.closed:
            return
        self.events.append(event)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    def snapshot(self, start: int) -> tuple[list[Event], bool, anyio.Event]:
        """Events from ``start``, whether the channel is closed, and what to wait on for more."""
        return self.events[start:], self.closed, self._changed

    async def follow(self, start: int = 0, *, heartbeat: float | None = None) -> AsyncIterator[list[Event] | None]:
        """Yield the events from index ``start`` until the channel closes; None after ``heartbeat``
        quiet seconds.

        Everything published since the previous step comes as one list: a reader that fell behind
        (under load) catches up in one write instead of one per token.
        """
        position = start
        while True:
            changed = self._changed
            if position < len(self.events):
                batch = self.events[position:]
                position += len(batch)
                yield batch
                continue
            if self.closed:
                return
            if heartbeat is None:
                await changed.wait()
                continue
            with anyio.move_on_after(heartbeat) as quiet:
                await changed.wait()
            if quiet.cancelled_caught:
                yield None
