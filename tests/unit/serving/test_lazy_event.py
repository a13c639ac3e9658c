"""``LazyEvent`` behaves as ``asyncio.Event`` where uvicorn's protocol uses one."""

from __future__ import annotations

import asyncio

import pytest

from proxy.serving import LazyEvent


async def test_a_set_event_does_not_wait_and_a_cleared_one_does() -> None:
    event = LazyEvent(True)
    assert event.is_set() and await event.wait()
    event.clear()
    waiting = asyncio.ensure_future(event.wait())
    await asyncio.sleep(0)
    assert not waiting.done()
    event.set()
    assert await waiting is True


async def test_setting_wakes_every_waiter_and_forgets_them() -> None:
    event = LazyEvent()
    waiters = [asyncio.ensure_future(event.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    event.set()
    assert await asyncio.gather(*waiters) == [True, True, True]
    assert event._waiters is None


async def test_a_cancelled_waiter_leaves_and_the_others_still_wake() -> None:
    event = LazyEvent()
    cancelled = asyncio.ensure_future(event.wait())
    kept = asyncio.ensure_future(event.wait())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert event._waiters is not None and len(event._waiters) == 1
    event.set()
    assert await kept is True


async def test_set_after_clear_while_waiting_wakes_the_waiter() -> None:
    event = LazyEvent()
    waiting = asyncio.ensure_future(event.wait())
    await asyncio.sleep(0)
    event.set()
    event.clear()  # as uvicorn's receive() does once woken: the waiter was woken all the same
    assert await waiting is True
    assert not event.is_set()
