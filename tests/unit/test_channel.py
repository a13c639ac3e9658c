"""A run's channel: readers get every event once, in order, in batches; quiet readers get heartbeats."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

from proxy.turns.channel import WRITE_LINGER, WRITE_PAUSE, Alarms, RunChannel, WritePause, heartbeats
from proxy.turns.events import Event
from tests.support.waiting import eventually


def publish(channel: RunChannel, *deltas: str) -> None:
    for delta in deltas:
        seq = len(channel.events) + 1
        channel.publish(Event.make("run_1", seq, "message.delta", {"message_id": "m", "delta": delta}))


def texts(batch: list[Event] | None) -> list[str] | None:
    return None if batch is None else [event.data["delta"] for event in batch]


async def turns_of_the_loop(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_reader_gets_every_event_once_in_order_until_the_close() -> None:
    channel = RunChannel()
    publish(channel, "a", "b")
    reader = channel.follow(linger=0)
    assert texts(await anext(reader)) == ["a", "b"]
    pending = asyncio.ensure_future(anext(reader))
    await turns_of_the_loop()
    assert not pending.done()  # nothing new: the reader waits
    publish(channel, "c")
    assert texts(await pending) == ["c"]
    channel.close()
    assert [texts(batch) async for batch in reader] == []


async def test_tokens_published_while_a_reader_lingers_share_its_next_batch() -> None:
    channel = RunChannel()
    publish(channel, "a")
    reader = channel.follow(linger=1.0)
    assert texts(await anext(reader)) == ["a"]
    pending = asyncio.ensure_future(anext(reader))
    publish(channel, "b")
    await turns_of_the_loop()
    publish(channel, "c")  # a later turn of the loop: without the pause, "b" would have gone alone
    await turns_of_the_loop()
    publish(channel, "d")
    assert texts(await pending) == ["b", "c", "d"]


async def test_a_reader_after_a_quiet_spell_is_woken_by_the_first_event() -> None:
    channel = RunChannel()
    reader = channel.follow(linger=600)
    pending = asyncio.ensure_future(anext(reader))
    await turns_of_the_loop()
    publish(channel, "first")
    # no pause before it (the bound only keeps a broken channel from hanging the test for 600 s)
    assert texts(await asyncio.wait_for(pending, 30)) == ["first"]


async def test_the_first_token_is_not_held_by_a_pause_after_the_run_s_start() -> None:
    channel = RunChannel()
    channel.publish(Event.make("run_1", 1, "run.started", {"run_id": "run_1"}))
    reader = channel.follow(linger=600)
    assert [event.name for event in await anext(reader)] == ["run.started"]
    pending = asyncio.ensure_future(anext(reader))
    await turns_of_the_loop()
    publish(channel, "first")
    # at once, not after the pause (the bound only keeps a broken channel from hanging the test for 600 s)
    assert texts(await asyncio.wait_for(pending, 30)) == ["first"]
    pending = asyncio.ensure_future(anext(reader))
    publish(channel, "second")
    await turns_of_the_loop()
    assert not pending.done()  # after text the reader pauses as before
    pending.cancel()


async def test_a_quiet_reader_gets_heartbeats_and_keeps_one_waiter() -> None:
    channel = RunChannel()
    reader = channel.follow(heartbeat=0.01)
    assert [await anext(reader) for _ in range(3)] == [None, None, None]
    assert len(channel._waiters) <= 1  # a stream held for hours does not pile up futures
    publish(channel, "a")
    assert texts(await anext(reader)) == ["a"]


async def test_quiet_readers_share_one_heartbeat_timer_and_leave_it_when_woken_or_gone() -> None:
    interval = 0.013  # an interval of this test's own
    beats = heartbeats(asyncio.get_running_loop(), interval)
    channel, other = RunChannel(), RunChannel()
    readers = [channel.follow(heartbeat=interval, linger=0) for _ in range(3)]
    assert await asyncio.gather(*(anext(reader) for reader in readers)) == [None, None, None]
    leaving = other.follow(heartbeat=interval)
    waiting = [asyncio.ensure_future(anext(reader)) for reader in [*readers, leaving]]
    while len(beats) < 4:  # all four wait on the one timer
        await asyncio.sleep(0)
    waiting[3].cancel()
    publish(channel, "a")
    assert [texts(batch) for batch in await asyncio.gather(*waiting[:3])] == [["a"], ["a"], ["a"]]
    assert waiting[3].cancelled()
    assert len(beats) == 0  # woken by the event or gone: none left waiting for a heartbeat
    assert await anext(readers[0]) is None  # and the next quiet spell still gets its heartbeat


async def test_a_cancelled_reader_does_not_disturb_the_others() -> None:
    channel = RunChannel()

    async def first(reader: AsyncIterator[list[Event] | None]) -> list[Event] | None:
        return await anext(reader)

    leaving = asyncio.ensure_future(first(channel.follow()))
    staying = asyncio.ensure_future(first(channel.follow()))
    await turns_of_the_loop()
    leaving.cancel()
    await turns_of_the_loop()
    publish(channel, "a")
    assert texts(await staying) == ["a"]
    assert leaving.cancelled()


async def test_a_snapshot_says_what_to_wait_on_for_more() -> None:
    channel = RunChannel()
    publish(channel, "a")
    events, closed, changed = channel.snapshot(0)
    assert [e.data["delta"] for e in events] == ["a"] and not closed
    waiting = asyncio.ensure_future(changed.wait())
    await turns_of_the_loop()
    assert not waiting.done()
    publish(channel, "b")
    await waiting
    _, _, changed = channel.snapshot(2)
    publish(channel, "c")  # published after the snapshot, before the wait: the wait returns at once
    await changed.wait()
    _, _, changed = channel.snapshot(3)
    channel.close()
    await changed.wait()
    assert channel.snapshot(3)[1] is True


async def test_the_close_ends_a_pause_so_the_end_of_a_run_is_not_held_back() -> None:
    channel = RunChannel()
    publish(channel, "a")
    reader = channel.follow(linger=600)
    assert texts(await anext(reader)) == ["a"]
    pending = asyncio.ensure_future(anext(reader))
    await turns_of_the_loop()  # the reader is pausing now
    publish(channel, "b")
    channel.close()
    # the bound only keeps a broken channel from hanging the test for the 600 s pause
    assert texts(await asyncio.wait_for(pending, 30)) == ["b"]
    assert [batch async for batch in reader] == []
    assert channel._pausing == []


async def test_alarms_ring_in_order_unless_discarded_and_never_for_an_infinite_interval() -> None:
    loop = asyncio.get_running_loop()
    rung: list[str] = []
    everyone = asyncio.Event()

    def ring(key: str) -> None:
        rung.append(key)
        if len(rung) == 2:
            everyone.set()

    alarms = Alarms.shared(loop, 0.011, ring)
    assert Alarms.shared(loop, 0.011, ring) is alarms  # one set (and one timer) per interval
    for key in ("a", "b", "c"):
        alarms.add(key)
    alarms.discard("b")  # e.g. a turn that ended before its deadline
    never = Alarms.shared(loop, math.inf, ring)
    never.add("forever")
    await asyncio.wait_for(everyone.wait(), 30)  # the bound only keeps a broken timer from hanging the test
    assert rung == ["a", "c"] and len(alarms) == 0 and len(never) == 0


def test_the_pause_after_a_write_is_50_ms_for_few_streams_and_grows_with_many_up_to_the_longest() -> None:
    pause = WritePause(longest=0.15)
    for readers, seconds in [(0, 0.05), (50, 0.05), (100, 0.1), (150, 0.15), (5000, 0.15)]:
        pause.readers = readers
        assert math.isclose(pause.seconds(), seconds), readers
    pause.longest = 0.05  # PROXY_WRITE_PAUSE_MAX=0.05: always 50 ms
    assert pause.seconds() == 0.05
    pause.longest = 0  # no pause at all
    assert pause.seconds() == 0


async def test_every_reader_counts_as_an_open_stream_until_it_ends_is_closed_or_dropped() -> None:
    before = WRITE_PAUSE.readers
    channel = RunChannel()
    publish(channel, "a")
    ended, closed, dropped = (channel.follow(linger=0) for _ in range(3))
    assert WRITE_PAUSE.readers == before + 3
    await closed.aclose()
    await closed.aclose()  # twice counts once
    del dropped  # never closed: it leaves when collected
    assert WRITE_PAUSE.readers == before + 1
    channel.close()
    assert [texts(batch) async for batch in ended] == [["a"]]
    assert WRITE_PAUSE.readers == before


async def test_a_reader_pauses_as_long_as_the_open_streams_ask() -> None:
    longest = WRITE_PAUSE.longest
    channel = RunChannel()
    publish(channel, "a")
    reader = channel.follow()
    WRITE_PAUSE.readers += 1_000_000  # as if very many streams were open
    try:
        WRITE_PAUSE.longest = 0  # no pause: each event goes as it comes
        assert texts(await anext(reader)) == ["a"]
        pending = asyncio.ensure_future(anext(reader))
        publish(channel, "b")
        assert texts(await pending) == ["b"]
        WRITE_PAUSE.longest = 600  # a long pause: what comes meanwhile waits for it
        pending = asyncio.ensure_future(anext(reader))
        publish(channel, "c")
        await turns_of_the_loop()
        assert not pending.done()
        publish(channel, "d")
        channel.close()  # the close ends the pause
        assert texts(await asyncio.wait_for(pending, 30)) == ["c", "d"]
    finally:
        WRITE_PAUSE.longest = longest
        WRITE_PAUSE.readers -= 1_000_000
        await reader.aclose()


class HoldRecorder:
    """Stands for the turn's ``ReadPace``: records how long the reader asks it to hold the reading."""

    def __init__(self, *, holding: bool = False) -> None:
        self.holds: list[float] = []
        self.holding = holding  # whether the connection could hold its reading

    def hold(self, seconds: float) -> bool:
        self.holds.append(seconds)
        return self.holding


PAUSE_UNDER_LOAD = WRITE_LINGER + 0.01  # a pause grown past its base: many streams are open


async def test_a_reader_holds_the_provider_reading_for_its_pause_only_after_writing_text() -> None:
    pace = HoldRecorder()
    channel = RunChannel(pace)  # type: ignore[arg-type]
    channel.publish(Event.make("run_1", 1, "run.started", {"run_id": "run_1"}))
    reader = channel.follow(linger=PAUSE_UNDER_LOAD)
    assert [event.name for event in await anext(reader)] == ["run.started"]
    publish(channel, "a")
    assert texts(await anext(reader)) == ["a"]
    assert pace.holds == []  # nothing is held before text has gone out: the first token is never held
    publish(channel, "b", "c")
    assert texts(await anext(reader)) == ["b", "c"]
    assert pace.holds == [PAUSE_UNDER_LOAD]  # held for the pause after "a"
    channel.publish(Event.make("run_1", 5, "message.completed", {"message_id": "m", "content": "abc"}))
    assert [event.name for event in await anext(reader)] == ["message.completed"]
    channel.close()
    assert [batch async for batch in reader] == []
    assert pace.holds == [PAUSE_UNDER_LOAD] * 2  # after "b", "c"; not after the completed message, nor at the close


async def test_a_reader_holds_nothing_while_its_pause_is_the_base_one() -> None:
    """Few streams open: the provider's end or a tool call is read the moment it arrives."""
    pace = HoldRecorder()
    channel = RunChannel(pace)  # type: ignore[arg-type]
    publish(channel, "a")
    reader = channel.follow(linger=WRITE_LINGER)
    assert texts(await anext(reader)) == ["a"]
    publish(channel, "b")
    assert texts(await anext(reader)) == ["b"]
    channel.close()
    assert [batch async for batch in reader] == []
    assert pace.holds == []


async def test_a_reader_that_does_not_pause_holds_nothing() -> None:
    pace = HoldRecorder()
    channel = RunChannel(pace)  # type: ignore[arg-type]
    publish(channel, "a")
    reader = channel.follow(linger=0)
    assert texts(await anext(reader)) == ["a"]
    publish(channel, "b")
    assert texts(await anext(reader)) == ["b"]
    assert pace.holds == []


async def test_a_held_reading_is_the_pause_the_reader_takes_its_read_when_it_comes() -> None:
    """No timer of the reader's own: the read at the hold's end is the next batch, taken at once."""
    pace = HoldRecorder(holding=True)
    channel = RunChannel(pace)  # type: ignore[arg-type]
    publish(channel, "a")
    reader = channel.follow(linger=PAUSE_UNDER_LOAD)
    assert texts(await anext(reader)) == ["a"]
    pending = asyncio.ensure_future(anext(reader))
    await turns_of_the_loop()
    assert pace.holds == [PAUSE_UNDER_LOAD] and channel._pausing == [] and len(channel._waiters) == 1
    held_from = asyncio.get_running_loop().time()

    async def hold_ended() -> bool:  # (the holds' tick: the connection reads again)
        return asyncio.get_running_loop().time() >= held_from + PAUSE_UNDER_LOAD

    await eventually(hold_ended)
    publish(channel, "b", "c")  # what the read brings
    assert texts(await asyncio.wait_for(pending, 30)) == ["b", "c"]
    channel.close()
    assert [batch async for batch in reader] == []


async def test_what_comes_while_the_reading_is_held_waits_for_the_rest_of_the_pause() -> None:
    pace = HoldRecorder(holding=True)
    channel = RunChannel(pace)  # type: ignore[arg-type]
    publish(channel, "a")
    reader = channel.follow(linger=30)
    assert texts(await anext(reader)) == ["a"]
    pending = asyncio.ensure_future(anext(reader))
    await turns_of_the_loop()
    publish(channel, "b")  # not the held read's (a read taken before the hold, an event of the turn)
    await turns_of_the_loop()
    assert not pending.done() and len(channel._pausing) == 1  # paused for the rest, as without a hold
    publish(channel, "c")
    channel.close()  # the close ends the pause
    assert texts(await asyncio.wait_for(pending, 30)) == ["b", "c"]
    assert pace.holds == [30]
