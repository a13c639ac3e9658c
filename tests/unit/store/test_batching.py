"""Calls that arrive while a batch is in flight go together in the next one; failures stay each caller's."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from proxy.store.batching import Batcher


class Refused(Exception):
    """Stands in for an error the database reported (the statement rolled back)."""

    sqlstate = "23505"


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        await self.gate.wait()
        if 13 in items:
            raise Refused("unlucky")
        if -1 in items:
            raise ConnectionError("lost while running")  # no sqlstate: it may have committed
        return [item * 10 for item in items]


async def test_a_lone_call_is_sent_at_once_and_alone() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.send)
    assert await batcher.call(1) == 10
    assert recorder.batches == [[1]]


async def test_calls_arriving_meanwhile_go_together_each_with_its_result() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    batcher = Batcher(recorder.send, lanes=1)
    first = asyncio.ensure_future(batcher.call(1))
    while not recorder.batches:
        await asyncio.sleep(0)  # the first call is on its way
    rest = [asyncio.ensure_future(batcher.call(n)) for n in range(2, 7)]
    recorder.gate.set()
    assert await first == 10
    assert await asyncio.gather(*rest) == [20, 30, 40, 50, 60]
    assert recorder.batches == [[1], [2, 3, 4, 5, 6]]


async def test_a_batch_is_at_most_the_limit() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    batcher = Batcher(recorder.send, lanes=1, limit=2)
    calls = [asyncio.ensure_future(batcher.call(n)) for n in range(1, 6)]
    await asyncio.sleep(0)
    recorder.gate.set()
    assert await asyncio.gather(*calls) == [10, 20, 30, 40, 50]
    assert recorder.batches == [[1, 2], [3, 4], [5]]


async def test_a_refused_batch_is_sent_again_one_by_one() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    batcher = Batcher(recorder.send, lanes=1)
    calls = [asyncio.ensure_future(batcher.call(n)) for n in (12, 13, 14)]
    await asyncio.sleep(0)
    recorder.gate.set()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert results[0] == 120 and results[2] == 140
    assert isinstance(results[1], Refused)  # only the caller whose part failed
    assert recorder.batches == [[12, 13, 14], [12], [13], [14]]


async def test_a_failure_that_may_have_committed_is_every_callers_and_not_sent_again() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    batcher = Batcher(recorder.send, lanes=1)
    calls = [asyncio.ensure_future(batcher.call(n)) for n in (1, -1)]
    await asyncio.sleep(0)
    recorder.gate.set()
    for call in calls:
        with pytest.raises(ConnectionError):
            await call
    assert recorder.batches == [[1, -1]]


async def test_a_caller_cancelled_before_its_batch_is_left_out() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    batcher = Batcher(recorder.send, lanes=1)
    first = asyncio.ensure_future(batcher.call(1))
    while not recorder.batches:
        await asyncio.sleep(0)
    gone, kept = asyncio.ensure_future(batcher.call(2)), asyncio.ensure_future(batcher.call(3))
    await asyncio.sleep(0)
    gone.cancel()
    recorder.gate.set()
    assert (await first, await kept) == (10, 30)
    assert recorder.batches == [[1], [3]]
