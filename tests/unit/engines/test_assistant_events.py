"""The assistants engine's stream reading: events split with their names whatever the reads'
boundaries, and a byte iterator over a stack of generators ended whole, however far it was read."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import anyio
import pytest

from proxy.engines.assistant_events import EventSplitter
from proxy.engines.byte_chunks import finish_chunks

# a BOM, a comment, CRLF and CR line endings, a multi-line data field, an event without a name,
# one without data, a field without a colon, a non-ASCII character
STREAM = (
    b"\xef\xbb\xbf: keep-alive\r\n\r\n"
    b"event: thread.run.created\r\n"
    b'data: {"id": "run_1"}\r\n\r\n'
    b'id: 7\nretry: 1000\ndata: {"text": "gr\xc3\xbc\xc3\x9fe"}\n\n'
    b"event: thread.run.step.created\n\n"
    b'event:thread.message.delta\rdata: {"a":\rdata: 1}\r\r'
    b"event: done\ndata\n\n"
    b"event: done\ndata: [DONE]\n\n"
)
EXPECTED = [
    ("thread.run.created", b'{"id": "run_1"}'),
    ("message", b'{"text": "gr\xc3\xbc\xc3\x9fe"}'),
    ("thread.message.delta", b'{"a":\n1}'),
    ("done", b""),
    ("done", b"[DONE]"),
]


def split(*reads: bytes) -> list[tuple[str, bytes]]:
    splitter = EventSplitter()
    out: list[tuple[str, bytes]] = []
    for read in reads:
        out += splitter.feed(read)
    return out + splitter.finish()


def test_the_stream_in_one_read() -> None:
    assert split(STREAM) == EXPECTED


def test_one_byte_at_a_time() -> None:
    assert split(*(STREAM[i : i + 1] for i in range(len(STREAM)))) == EXPECTED


def test_any_two_reads() -> None:
    for cut in range(1, len(STREAM)):
        assert split(STREAM[:cut], STREAM[cut:]) == EXPECTED, cut


def test_an_event_whose_blank_line_never_came_is_kept_and_a_cut_line_dropped() -> None:
    assert split(b"event: e\ndata: 1\n") == [("e", b"1")]
    assert split(b"event: e\ndata: 1\ndata: 2") == [("e", b"1")]
    assert split(b"") == []


class Layers:
    """A stack of generators as httpx2 and httpcore stack them: each iterates the next with a plain
    ``async for``, so closing the top one leaves the ones under it suspended."""

    def __init__(self) -> None:
        self.finished: list[str] = []
        self.more = anyio.Event()  # the peer sends nothing more until set

    async def bottom(self) -> AsyncIterator[bytes]:
        try:
            yield b"one"
            yield b"two"  # read at once, as bytes already buffered are
            await self.more.wait()
            yield b"three"
        finally:
            self.finished.append("bottom")

    async def middle(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.bottom():
                yield chunk
        finally:
            self.finished.append("middle")

    async def top(self) -> AsyncGenerator[bytes, None]:
        try:
            async for chunk in self.middle():
                yield chunk
        finally:
            self.finished.append("top")


async def test_closing_only_the_top_generator_leaves_the_ones_under_it_suspended() -> None:
    layers = Layers()
    chunks = layers.top()
    assert await anext(chunks) == b"one"
    await chunks.aclose()
    assert layers.finished == ["top"]  # why finish_chunks exists


@pytest.mark.parametrize("read", [0, 1, 2])
async def test_finish_chunks_ends_the_whole_stack_however_far_it_was_read(read: int) -> None:
    layers = Layers()
    chunks = layers.top()
    for _ in range(read):
        await anext(chunks)

    with anyio.fail_after(5):
        await finish_chunks(chunks)

    assert layers.finished == ["bottom", "middle", "top"]
    assert chunks.ag_frame is None
    await finish_chunks(chunks)  # once finished, nothing more to do
