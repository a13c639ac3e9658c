"""A run's events, kept in order so that one or more readers can follow them.

The engine task publishes; the SSE response (or a reconnect with ``Last-Event-ID``) follows from
any position. ``events[i]`` has sequence number ``i + 1``. The list lives as long as the run; its
length is bounded by the turn timeout.

Every token of every open stream passes through here, and a worker holds thousands of quiet
streams, so waiting is kept cheap: a reader waits on one plain future of its own (no event object
made per published event, no cancel scope per wait), the heartbeat resolves that future (one timer
for all quiet readers, see :class:`Alarms`), and a
reader that just wrote lingers a moment before writing again so that tokens arriving close
together share one write (see :data:`WRITE_LINGER`). After a write that carried text, the reader
also holds the reading of the provider's answer for its pause while many streams are open
(``RunChannel.pace``: see :mod:`proxy.engines.wire.pacing`), so those tokens are read together
too, just before the next write.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from proxy.turns.events import MESSAGE_DELTA, RUN_STARTED, Event

if TYPE_CHECKING:
    from proxy.engines.base import ReadPace

# A reader pauses after each batch it takes, so that everything published meanwhile goes in its
# next write. At a provider's 30-100 tokens a second a pause of WRITE_LINGER seconds makes one write
# (one send through every middleware, then a syscall: most of the CPU a token costs us) and one
# wakeup per two to five tokens instead of one per token, and no reader can see the difference. An
# event after a quiet spell (the first token) goes out at once, and so does the end of a run
# (closing the channel ends the pause).
WRITE_LINGER = 0.05
# While many streams are open the pause grows by this much per open stream (up to
# PROXY_WRITE_PAUSE_MAX, 0.15 s by default): from 50 open streams on, 150 ms at 150 and more. Then
# throughput matters more than the cadence: at 20 ms between tokens a write carries about seven
# tokens instead of two or three, and a reader still sees six or seven updates a second.
LINGER_PER_STREAM = 0.001
LONGEST_LINGER = 0.15  # the default of PROXY_WRITE_PAUSE_MAX


class WritePause:
    """How long a reader pauses after a write: ``WRITE_LINGER`` while few streams are open,
    ``LINGER_PER_STREAM`` per open stream while many are, never more than ``longest``.

    One per process (:data:`WRITE_PAUSE`); the app sets ``longest`` from its settings. Every
    reader of a run's channel counts as an open stream while it follows the run.
    """

    __slots__ = ("longest", "readers")

    def __init__(self, longest: float = LONGEST_LINGER) -> None:
        self.longest = longest
        self.readers = 0

    def seconds(self) -> float:
        return min(self.longest, max(WRITE_LINGER, self.readers * LINGER_PER_STREAM))


WRITE_PAUSE = WritePause()


def _quiet(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(True)


# A held reading ends on the holds' next tick (proxy.engines.wire.pacing.TICK, 5 ms) at or before
# the pause's end: what it reads is not held back for the rest of the pause.
_HOLD_EARLY = 0.006
# a heartbeat this close to its time goes out now rather than after one more turn of the timer
_EARLY = 0.001
K = TypeVar("K")


class Alarms(Generic[K]):
    """Calls ``ring(key)`` ``interval`` seconds after ``add(key)``, unless the key is discarded
    first: one loop timer for all the keys of a worker, instead of one each (a timer costs about
    half a kilobyte, and a worker holds thousands of quiet streams and their turns).

    All wait the same interval, so the first added is the first due: the queue is an
    ``OrderedDict`` in the order they were added, and a discarded key leaves it at once.
    """

    __slots__ = ("_due", "_interval", "_ring", "_timer", "loop")

    _shared: ClassVar[dict[tuple[Callable[[Any], None], float], Alarms[Any]]] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float, ring: Callable[[K], None]) -> None:
        self.loop = loop
        self._interval = interval
        self._ring = ring
        self._due: OrderedDict[K, float] = OrderedDict()
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def shared(cls, loop: asyncio.AbstractEventLoop, interval: float, ring: Callable[[K], None]) -> Alarms[K]:
        """The loop's alarms of ``interval`` seconds that call ``ring``."""
        alarms = cls._shared.get((ring, interval))
        if alarms is None or alarms.loop is not loop:  # (another loop's keep working for their keys)
            alarms = cls._shared[(ring, interval)] = cls(loop, interval, ring)
        return alarms

    def add(self, key: K) -> None:
        if self._interval == math.inf:  # never
            return
        deadline = self.loop.time() + self._interval
        self._due[key] = deadline
        if self._timer is None:
            self._timer = self.loop.call_at(deadline, self._fire)

    def discard(self, key: K) -> None:
        # the timer stays set for the time of the first: when it fires it sets itself for the next
        self._due.pop(key, None)

    def _fire(self) -> None:
        self._timer = None
        due = self._due
        now = self.loop.time() + _EARLY
        while due:
            key, deadline = next(iter(due.items()))
            if deadline > now:
                self._timer = self.loop.call_at(deadline, self._fire)
                return
            del due[key]
            self._ring(key)

    def __len__(self) -> int:
        return len(self._due)


Heartbeats = Alarms[asyncio.Future[bool]]


def heartbeats(loop: asyncio.AbstractEventLoop, interval: float) -> Heartbeats:
    """Quiet readers' heartbeats of ``interval`` seconds: the waiter resolves True."""
    return Alarms.shared(loop, interval, _quiet)


class Changed:
    """What a snapshot's reader waits on: anything published (or the close) after the snapshot."""

    __slots__ = ("_channel", "_seen")

    def __init__(self, channel: RunChannel, seen: int) -> None:
        self._channel = channel
        self._seen = seen

    async def wait(self) -> None:
        channel = self._channel
        while len(channel.events) <= self._seen and not channel.closed:
            await channel._waiter()


class RunChannel:
    __slots__ = ("_pausing", "_waiters", "closed", "events", "pace")

    def __init__(self, pace: ReadPace | None = None) -> None:
        # the reading of the provider's answer, held while a reader pauses after writing text
        # (proxy.engines.wire.pacing: tokens that cannot be shown before the next write are read
        # together, just before it)
        self.pace = pace
        self.events: list[Event] = []
        self.closed = False
        self._waiters: list[asyncio.Future[bool]] = []  # readers waiting for the next event
        self._pausing: list[asyncio.Future[bool]] = []  # readers pausing between writes (see follow)

    def publish(self, event: Event) -> None:
        if self.closed:
            return
        self.events.append(event)
        if self._waiters:
            self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()
        pausing, self._pausing = self._pausing, []
        for pause in pausing:  # the end of the run goes out now, not at the end of the pause
            _quiet(pause)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():  # a reader cancelled while waiting leaves a cancelled future
                waiter.set_result(False)

    def _waiter(self, loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Future[bool]:
        """A future that resolves at the next publish or close (False), or when timed out (True)."""
        waiter: asyncio.Future[bool] = (loop or asyncio.get_running_loop()).create_future()
        self._waiters.append(waiter)
        return waiter

    async def _pause(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        """Sleep ``seconds``, or until the channel closes."""
        pause: asyncio.Future[bool] = loop.create_future()
        self._pausing.append(pause)
        timer = loop.call_later(seconds, _quiet, pause)
        try:
            await pause
        finally:
            timer.cancel()
            if pause in self._pausing:
                self._pausing.remove(pause)

    def snapshot(self, start: int) -> tuple[list[Event], bool, Changed]:
        """Events from ``start``, whether the channel is closed, and what to wait on for more."""
        return self.events[start:], self.closed, Changed(self, len(self.events))

    def follow(
        self, start: int = 0, *, heartbeat: float | None = None, linger: float | None = None
    ) -> AsyncIterator[list[Event] | None]:
        """Yield the events from index ``start`` until the channel closes; None after ``heartbeat``
        quiet seconds.

        Everything published since the previous step comes as one list: a reader that fell behind
        (under load) catches up in one write instead of one per token. After each batch (but one
        that ends with the run's start: the first token is not held behind it) the reader pauses
        ``linger`` seconds (by default as long as :data:`WRITE_PAUSE` says for the
        streams open now), so that tokens arriving close together share a write (one wakeup per
        write rather than one per token, too); an event after a longer quiet spell goes out at
        once, and the close ends a pause.
        """
        return Reader(self, start, heartbeat, linger)


class Reader:
    """:meth:`RunChannel.follow`: an iterator object rather than an async generator (the event loop
    keeps every live async generator in a set of its own, and a worker holds thousands of quiet
    streams)."""

    __slots__ = (
        "_beats",
        "_channel",
        "_heartbeat",
        "_held_until",
        "_linger",
        "_loop",
        "_pause_due",
        "_position",
        "_wrote_text",
    )

    def __init__(self, channel: RunChannel, start: int, heartbeat: float | None, linger: float | None) -> None:
        self._channel = channel
        self._position = start
        self._heartbeat = heartbeat
        self._beats: Heartbeats | None = None
        self._linger = linger
        self._pause_due = False  # a batch went out: pause before the next
        self._wrote_text = False  # ... and it ended with text: the provider's reading may be held
        self._held_until = 0.0  # the pause's end while the held reading stands for it (0: none)
        # the loop it runs in, asked once (``asyncio.get_running_loop`` makes a system call, getpid,
        # each time it is asked, and a reader asks twice per write)
        self._loop: asyncio.AbstractEventLoop | None = None
        WRITE_PAUSE.readers += 1

    def __aiter__(self) -> Reader:
        return self

    async def __anext__(self) -> list[Event] | None:
        channel = self._channel
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        if self._pause_due:
            self._pause_due = False
            if not channel.closed:  # what comes meanwhile joins the next batch
                seconds = WRITE_PAUSE.seconds() if self._linger is None else self._linger
                if seconds > 0:
                    if self._wrote_text and channel.pace is not None and seconds > WRITE_LINGER:
                        # many streams are open (the pause has grown): what comes meanwhile is read
                        # together at its end; with few, CPU is not short, and the provider's end
                        # or a tool call is read the moment it arrives
                        if channel.pace.hold(seconds):
                            # the held reading is the pause: nothing of the provider's comes before
                            # it ends, and what comes then is the next batch, taken when published,
                            # without a timer of the reader's own or a step to find nothing yet
                            self._held_until = loop.time() + seconds - _HOLD_EARLY
                        else:
                            await channel._pause(loop, seconds)
                    else:
                        await channel._pause(loop, seconds)
        while True:
            position = self._position
            if position < len(channel.events):
                if self._held_until:  # (published while the reading is held: not by its read)
                    left = self._held_until - loop.time()
                    self._held_until = 0.0
                    if left > 0 and not channel.closed:
                        await channel._pause(loop, left)  # the rest of the pause, as without a hold
                    continue
                batch = channel.events[position:]
                self._position = position + len(batch)
                last = batch[-1].name
                # no pause after the run's start alone: nothing came to share a write with, and its
                # first token goes out the moment it comes, however soon after the start
                self._pause_due = self._linger != 0 and last != RUN_STARTED
                self._wrote_text = last == MESSAGE_DELTA
                return batch
            if channel.closed:
                self._leave()
                raise StopAsyncIteration
            waiter = channel._waiter(loop)
            if self._heartbeat is None:
                await waiter
                continue
            beats = self._beats
            if beats is None:
                beats = self._beats = heartbeats(loop, self._heartbeat)
            beats.add(waiter)
            try:
                quiet = await waiter
            finally:
                beats.discard(waiter)
            if quiet:
                if waiter in channel._waiters:  # not taken by a publish since the heartbeat came
                    channel._waiters.remove(waiter)
                return None

    async def aclose(self) -> None:
        """As an async generator's: nothing more comes."""
        self._leave()
        self._position = 0
        self._pause_due = False

    def _leave(self) -> None:
        """No longer an open stream (once: at the end, at the close, or when dropped unclosed)."""
        if self._channel is not _ENDED:
            self._channel = _ENDED
            WRITE_PAUSE.readers -= 1

    def __del__(self) -> None:
        self._leave()


_ENDED = RunChannel()
_ENDED.closed = True
