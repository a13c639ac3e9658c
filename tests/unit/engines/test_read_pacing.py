"""Holding a provider connection's reading between the stream's writes (``proxy.engines.wire.pacing``):
when a hold takes, what ends it, and how it meets the back-pressure pause, the read timeout and the
end of an answer. The connection is driven through its protocol callbacks over a recording
transport; the same over real sockets is in tests/integration/engines/test_read_pacing.py."""

from __future__ import annotations

import asyncio
from typing import Any

from proxy.engines.base import ReadPace
from proxy.engines.sse_split import DataSplitter
from proxy.engines.wire import feed
from proxy.engines.wire.connection import Connection
from proxy.engines.wire.pacing import Holds, holds
from proxy.engines.wire.silences import Silences

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def event(n: int) -> bytes:
    return chunk(b'data: {"n": %d}\n\n' % n)


class Transport:
    """Records what the connection asks of its transport."""

    def __init__(self) -> None:
        self.reading = True
        self.closing = False
        self.calls: list[str] = []
        self.resumed = asyncio.get_running_loop().create_future()

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.calls.append("pause")
        self.reading = False

    def resume_reading(self) -> None:
        self.calls.append("resume")
        self.reading = True
        if not self.resumed.done():
            self.resumed.set_result(None)

    def close(self) -> None:
        self.closing = True


def connected(pace: ReadPace | None = None, silences: Silences | None = None) -> tuple[Connection, Transport]:
    conn = Connection(None, ("http", "provider.test", 80, None))  # type: ignore[arg-type]
    transport = Transport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    conn.send(b"POST / HTTP/1.1\r\n\r\n", silences, pace)
    return conn, transport


async def test_a_hold_stops_the_reading_until_its_time_and_what_came_meanwhile_is_read_in_order() -> None:
    pace = ReadPace()
    conn, transport = connected(pace)
    conn.data_received(HEAD + event(1))
    assert await conn.events() == [b'{"n": 1}']

    pace.hold(0.01)
    assert not transport.reading
    await transport.resumed  # the shared timer ended the hold
    assert transport.reading and transport.calls == ["pause", "resume"]

    conn.data_received(event(2) + event(3) + event(4))  # what the kernel kept meanwhile: one read
    assert await conn.events() == [b'{"n": 2}', b'{"n": 3}', b'{"n": 4}']


async def test_nothing_is_held_before_the_answer_s_body_nor_after_its_end() -> None:
    pace = ReadPace()
    conn, transport = connected(pace)
    assert pace.source is conn
    pace.hold(30)  # the status line and the first token are never held
    assert transport.reading

    conn.data_received(HEAD + event(1) + b"0\r\n\r\n")
    assert conn.complete
    assert pace.source is None  # the answer ended: the turn's stream holds nothing here any more
    pace.hold(30)
    conn.hold(30)
    assert transport.reading and transport.calls == []


async def test_a_hold_that_would_hide_the_read_timeout_is_not_placed() -> None:
    loop = asyncio.get_running_loop()
    pace = ReadPace()
    conn, transport = connected(pace, Silences(loop, 5.0))
    conn.data_received(HEAD + event(1))

    pace.hold(10)  # the provider's silence would be noticed only after the hold
    assert transport.reading
    pace.hold(1)  # well before the deadline: held
    assert not transport.reading
    conn.release()
    assert transport.reading


async def test_the_back_pressure_pause_and_a_hold_end_independently() -> None:
    pace = ReadPace()
    conn, transport = connected(pace)
    conn.data_received(HEAD + event(0))
    conn.data_received(b"".join(event(n) for n in range(feed._PAUSE_AT)))
    assert transport.calls == ["pause"]  # too many events wait for the turn

    pace.hold(30)
    conn.release()  # the hold ends, but the turn has not taken the events: still paused
    assert not transport.reading and transport.calls == ["pause"]

    pace.hold(30)
    assert len(await conn.events()) == feed._PAUSE_AT + 1  # taken, but the hold goes on
    assert not transport.reading
    conn.release()
    assert transport.reading and transport.calls == ["pause", "resume"]


async def test_a_connection_closed_while_held_is_not_resumed() -> None:
    pace = ReadPace()
    conn, transport = connected(pace)
    conn.data_received(HEAD + event(1))
    pace.hold(30)
    conn.close()
    assert pace.source is None
    conn.release()
    assert transport.calls == ["pause"]


async def test_one_timer_ends_the_holds_of_one_tick_together_and_later_ticks_after() -> None:
    loop = asyncio.get_running_loop()
    shared = Holds(loop)
    ended: list[str] = []
    last = loop.create_future()

    class Held:
        def __init__(self, name: str) -> None:
            self.name = name

        def release(self) -> None:
            ended.append(self.name)
            if self.name == "late":
                last.set_result(None)

    shared.add(Held("late"), 0.05)
    shared.add(Held("early"), 0.0)
    shared.add(Held("early too"), 0.0)
    assert len(shared) == 3
    await last
    assert ended == ["early", "early too", "late"] and len(shared) == 0
    assert holds(loop) is holds(loop)


def test_a_turn_without_a_connection_holds_nothing() -> None:
    ReadPace().hold(1.0)  # (the assistants and offline engines read no connection of ours)


async def test_the_split_happens_once_per_read(monkeypatch: Any) -> None:
    conn, _ = connected(ReadPace())
    conn.data_received(HEAD)
    fed: list[bytes] = []
    original = DataSplitter.feed

    def feed_once(self: DataSplitter, data: bytes) -> list[bytes]:
        fed.append(data)
        return original(self, data)

    monkeypatch.setattr(DataSplitter, "feed", feed_once)
    conn.data_received(event(1) + event(2) + chunk(b'data: {"n"') + chunk(b": 3}\n\n"))
    assert len(fed) == 1
    assert await conn.events() == [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']
