"""Tasks started eagerly: the first step runs in the creator's step, as the new task, in its own context."""

from __future__ import annotations

import asyncio
import contextvars

import anyio
import pytest

from proxy.turns.eager import start_eagerly

MARK: contextvars.ContextVar[str] = contextvars.ContextVar("mark", default="caller")


async def test_the_first_step_runs_before_the_task_is_handed_back_as_that_task() -> None:
    caller = asyncio.current_task()
    seen: list[object] = []
    gate = asyncio.Event()

    async def turn() -> str:
        seen.append(asyncio.current_task())
        MARK.set("turn")  # its own context: the caller's is untouched
        await gate.wait()
        seen.append(asyncio.current_task())
        return MARK.get()

    task = start_eagerly(turn(), name="eager")
    assert seen == [task]  # ran up to its first wait, as itself
    assert asyncio.current_task() is caller and MARK.get() == "caller"
    gate.set()
    assert await task == "turn"
    assert seen == [task, task] and task.get_name() == "eager"


async def test_a_cancel_scope_entered_in_the_first_step_belongs_to_the_task() -> None:
    entered = asyncio.Event()
    scopes: list[anyio.CancelScope] = []

    async def turn() -> str:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            entered.set()
            await anyio.sleep(30)
        return "cancelled" if scope.cancelled_caught else "slept"

    task = start_eagerly(turn())
    assert entered.is_set()
    scopes[0].cancel()
    with anyio.fail_after(5):
        assert await task == "cancelled"


async def test_a_task_cancelled_before_its_first_scheduled_step_ends_its_coroutine() -> None:
    ended: list[str] = []

    async def turn() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.append("finally")

    task = start_eagerly(turn())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ended == ["finally"]


async def test_an_outcome_of_the_first_step_is_the_tasks() -> None:
    async def answer() -> int:
        return 42

    async def fail() -> None:
        raise LookupError("at once")

    done = start_eagerly(answer())
    failed = start_eagerly(fail())
    assert await done == 42
    with pytest.raises(LookupError, match="at once"):
        await failed


async def test_a_bare_yield_in_the_first_step_goes_on_in_the_task() -> None:
    steps: list[str] = []

    async def turn() -> str:
        steps.append("first")
        await asyncio.sleep(0)
        steps.append("second")
        return "done"

    task = start_eagerly(turn())
    assert steps == ["first"]
    assert await task == "done" and steps == ["first", "second"]


async def test_outside_a_task_it_is_an_ordinary_task() -> None:
    loop = asyncio.get_running_loop()
    made: asyncio.Future[asyncio.Task[str]] = loop.create_future()
    steps: list[str] = []

    async def turn() -> str:
        steps.append("ran")
        return "done"

    loop.call_soon(lambda: made.set_result(start_eagerly(turn())))
    task = await made
    assert await task == "done" and steps == ["ran"]


async def test_cancelled_before_its_own_first_step_the_task_cancels_what_it_waits_on() -> None:
    """As an ordinary task does: what the first step waits on is cancelled with the task."""
    waited: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def turn() -> None:
        await waited

    task = start_eagerly(turn())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert waited.cancelled()
