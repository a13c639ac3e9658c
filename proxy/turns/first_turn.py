"""A thread's first message: its turn starts while the statement creating the thread is in flight.

The provider's request for a first message needs nothing that statement returns: a new thread has
no history, no provider conversation, no takeover and no lapsed lease, and its id, visitor and
engine are the request's. So :meth:`~proxy.turns.manager.TurnManager.open` starts the turn on the
thread as it will be stored (:func:`expected_thread`) and the turn sends its provider request at
once; the statement's round trip (and, in a burst of new chats, its wait for a batch) runs while
the provider thinks instead of before it asks.

What the turn must not do before the thread exists waits for :class:`ThreadCreation`: anything
written about the thread (a handoff, the tools' rows, the end of the turn) and anything the
visitor sees (the first event the engine yields, text or tool call, is published only once the
thread is stored, and the response itself starts only when ``open`` returns, after the statement).
If the statement fails, the turn is cancelled (its provider request closed), nothing of it is
written, its channel ends with ``error`` and ``done`` for nobody, a conversation it made on the
provider (with the visitor's message in it, which no thread of ours records) is deleted, best
effort, and the request fails as it always did: with the statement's error, before any response
started. An error of the turn before the thread is stored is marked on the thread once it is.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from proxy.store.threads import LockedThread, NewTurn

__all__ = ("ThreadCreation", "expected_thread")


def expected_thread(new: NewTurn) -> LockedThread:
    """The thread ``new`` creates, as far as the turn reads it before the statement returns (its
    creation time and the message's id are the statement's, and the turn reads neither before)."""
    visitor = new.visitor
    return LockedThread(
        new.thread_id,
        new.tenant,
        visitor.binding,
        new.engine,
        None,
        datetime.now(UTC),
        visitor.kind,
        visitor.user_id,
        visitor.email,
        history=(),
    )


class ThreadCreation:
    """Whether the statement creating a turn's thread succeeded, once it returned.

    The request that runs the statement resolves it, whatever happens (:meth:`settle`); the turn
    waits on it (:meth:`wait`) without ever cancelling it for another waiter.
    """

    __slots__ = ("_outcome",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._outcome: asyncio.Future[bool] = loop.create_future()

    def settle(self, created: bool) -> None:
        if not self._outcome.done():
            self._outcome.set_result(created)

    @property
    def settled(self) -> bool:
        return self._outcome.done()

    async def wait(self) -> bool:
        """True once the thread is stored; False if it never will be (the turn is being cancelled)."""
        return await asyncio.shield(self._outcome)
