"""Telling every worker that a conversation changed (a message, a person joining or leaving).

A change is a Postgres NOTIFY carrying only the thread id; each worker's :class:`LiveHub` listens
once and wakes the streams (the visitor's widget, the console) that follow that thread here. The
streams then read what is new from the database, so nothing is lost when a NOTIFY is (a stream
also looks again every ``poll`` seconds, for changes nobody announced, e.g. an assistant's reply).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio

from proxy.store.db import Database
from proxy.store.notify import notifications, notify

CHANNEL = "proxy_thread_live"


class Watch:
    """A flag raised when the watched thread changes; cleared by each :meth:`wait`."""

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._raised = False

    def raise_(self) -> None:
        self._raised = True
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """True if the thread changed (since the last wait), False after ``timeout`` quiet seconds."""
        if not self._raised:
            with anyio.move_on_after(timeout):
                await self._event.wait()
        changed, self._raised = self._raised, False
        if changed:
            self._event = anyio.Event()
        return changed


class LiveHub:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._watches: dict[str, set[Watch]] = defaultdict(set)

    @contextmanager
    def watch(self, thread_id: str) -> Iterator[Watch]:
        watch = Watch()
        self._watches[thread_id].add(watch)
        try:
            yield watch
        finally:
            watches = self._watches.get(thread_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[thread_id]

    def wake(self, thread_id: str) -> None:
        for watch in list(self._watches.get(thread_id, ())):
            watch.raise_()

    def wake_all(self) -> None:
        """After the LISTEN connection came back: anything may have been missed."""
        for thread_id in list(self._watches):
            self.wake(thread_id)

    async def announce(self, thread_id: str) -> None:
        await notify(self.db, CHANNEL, thread_id)

    async def listen(self) -> None:
        async for thread_id in notifications(self.db, CHANNEL, on_listening=self.wake_all):
            self.wake(thread_id)


@asynccontextmanager
async def running_hub(db: Database) -> AsyncIterator[LiveHub]:
    hub = LiveHub(db)
    async with anyio.create_task_group() as tg:
        tg.start_soon(hub.listen, name="live conversations")
        try:
            yield hub
        finally:
            tg.cancel_scope.cancel()
