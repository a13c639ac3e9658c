"""A task whose first step runs at once, in its creator's step: what Python 3.12's eager tasks do.

A new task waits at the back of the event loop's queue. In a burst of new chats that queue holds
every request parsed so far, so each turn's task (created by its request's first pass) ran only
after the first pass of every request behind it: the 200 provider requests of a burst of 200 left
together, once all 200 first passes were done, and the provider then had all 200 to take at once.
Started eagerly, a turn sends its provider request as soon as its own request's first pass is
done; the provider takes them as they come, on its own core, while the worker goes on with the
next requests.

The first step runs with the new task as the current task (``asyncio.current_task``, anyio's cancel
scopes and sniffio see it) and in the task's own context. From Python 3.12 on, :func:`start_eagerly` is
asyncio's own ``Task(..., eager_start=True)``. Python 3.11 has no public way to do this: there it
uses asyncio's ``_enter_task`` and ``_leave_task``, the two calls its own tasks use around each
step (``tests/unit/test_eager.py`` fails if they change).
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

__all__ = ("start_eagerly",)

T = TypeVar("T")

_enter_task = asyncio.tasks._enter_task
_leave_task = asyncio.tasks._leave_task


class _Resumed(Coroutine[Any, Any, T]):
    """The rest of a coroutine whose first step already ran: the task's first step gets what that
    step waits on (or its outcome), every later step goes to the coroutine itself."""

    __slots__ = ("_coro", "_error", "_first", "_outcome")

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self._coro = coro
        self._first: Any = None  # what the first step waits on (a future, or None: a bare yield)
        self._outcome: StopIteration | None = None  # the coroutine ended in its first step
        self._error: BaseException | None = None  # ... with this exception

    def step(self) -> None:
        try:
            self._first = self._coro.send(None)
        except StopIteration as stop:
            self._outcome = stop
        except BaseException as exc:  # the task raises it on its first step, as its own step would
            self._error = exc

    def send(self, value: Any) -> Any:
        if self._outcome is not None:
            outcome, self._outcome = self._outcome, None
            raise outcome
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        # cancelled before the task's own first step: the task was not waiting on what the first
        # step waits on yet, so cancelling the task did not cancel it; cancel it here, as a task does
        first, self._first = self._first, None
        if first is not None and isinstance(first, asyncio.Future) and not first.done():
            first.cancel()
        if self._outcome is not None or self._error is not None:
            return self.send(None)  # ended already: its outcome stands
        if val is None and tb is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, T]:
        raise TypeError("a task's coroutine, not to be awaited")


def start_eagerly(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
    """A task running ``coro``, its first step (up to its first wait) already run when this returns.

    Call it from a task (the caller's step is put aside for the new one's first step and taken up
    again after it).
    """
    loop = asyncio.get_running_loop()
    if sys.version_info >= (3, 12):
        return asyncio.Task(coro, loop=loop, name=name, eager_start=True)
    return _started_by_hand(loop, coro, name)


def _started_by_hand(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], name: str | None
) -> asyncio.Task[T]:
    """Python 3.11: the task's first step run here, as that task (from outside a task: an ordinary task)."""
    context = contextvars.copy_context()
    resumed = _Resumed(coro)
    task = loop.create_task(resumed, name=name, context=context)
    current = asyncio.current_task(loop)
    if current is None:
        return task
    _leave_task(loop, current)
    _enter_task(loop, task)
    try:
        context.run(resumed.step)
    finally:
        _leave_task(loop, task)
        _enter_task(loop, current)
    return task
