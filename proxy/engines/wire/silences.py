"""The read timeout of the connections reading an answer, one timer for all of them."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from proxy.engines.wire.connection import Connection

__all__ = ("Silences",)


class Silences:
    """The read timeout of every connection reading an answer, with one timer for all of them
    (a timer each would be half a kilobyte of every idle stream): the connections in the order
    they last received something, so the first is the first due."""

    __slots__ = ("_reading", "_timer", "loop", "seconds")

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self.loop = loop
        self.seconds = seconds
        self._reading: OrderedDict[Connection, None] = OrderedDict()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, conn: Connection) -> None:
        conn.last_read = self.loop.time()
        self._reading.pop(conn, None)
        self._reading[conn] = None
        if self._timer is None:
            self._timer = self.loop.call_at(conn.last_read + self.seconds, self._fire)

    def heard(self, conn: Connection) -> None:
        conn.last_read = self.loop.time()
        self._reading.move_to_end(conn)

    def forget(self, conn: Connection) -> None:
        self._reading.pop(conn, None)  # the timer stays set: when it fires it sets itself for the next

    def _fire(self) -> None:
        self._timer = None
        reading = self._reading
        now = self.loop.time()
        while reading:
            conn = next(iter(reading))
            due = conn.last_read + self.seconds
            if due > now:
                self._timer = self.loop.call_at(due, self._fire)
                return
            del reading[conn]
            conn.silent(self.seconds)
