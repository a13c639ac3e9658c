"""Statements of many callers sent as one: what arrives while a batch is in flight goes in the next.

When a burst of new chats arrives at once, each would otherwise run its own statement: a pooled
connection, a round trip, a transaction and a commit each, in our process and in Postgres alike.
A :class:`Batcher` sends the first call at once (alone, when nothing else is waiting: no added
wait) and gathers the calls that arrive while it runs into the next batch, up to ``limit`` a
batch, on at most ``lanes`` connections at a time.

A batch the database refused (an error it reported: the statement rolled back, nothing of it was
written) is sent again one call at a time, so that each caller gets its own statement's outcome (a
failure that is one caller's stays that caller's). Any other failure (no connection, a connection
lost while the statement ran: it may have committed) is every caller's, as it would have been with
a statement each. A caller cancelled before its batch was sent is left out of it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """Runs ``send(items)``, which returns one result per item in order, for calls gathered together."""

    def __init__(
        self, send: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]], *, limit: int = 64, lanes: int = 2
    ) -> None:
        self._send = send
        self.limit = limit
        self.lanes = lanes
        self._waiting: deque[tuple[Item, asyncio.Future[Result]]] = deque()
        self._running = 0  # lanes sending now
        self._lanes: set[asyncio.Task[None]] = set()

    async def call(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._running < self.lanes:
            self._running += 1
            lane = asyncio.get_running_loop().create_task(self._lane())
            self._lanes.add(lane)
            lane.add_done_callback(self._lanes.discard)
        return await future

    async def _lane(self) -> None:
        try:
            while self._waiting:
                batch: list[tuple[Item, asyncio.Future[Result]]] = []
                while self._waiting and len(batch) < self.limit:
                    item, future = self._waiting.popleft()
                    if not future.done():  # its caller was cancelled meanwhile
                        batch.append((item, future))
                if batch:
                    await self._run(batch)
        finally:
            self._running -= 1

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._send([item for item, _ in batch])
        except Exception as exc:
            if len(batch) > 1 and getattr(exc, "sqlstate", None) is not None:
                for one in batch:  # each caller gets its own statement's outcome
                    await self._run([one])
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # this lane was cancelled (the loop is closing): so are its callers
            for _, future in [*batch, *self._waiting]:
                future.cancel()
            self._waiting.clear()
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
