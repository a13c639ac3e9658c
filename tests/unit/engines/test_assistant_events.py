"""The assistants engine's stream reading: a byte iterator over a stack of generators ended whole,
however far it was read. (Its events are split by :class:`~proxy.engines.sse_split.EventSplitter`,
tested with the other splitter in ``test_sse_split.py``.)"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import anyio
import pytest

from proxy.engines.byte_chunks import finish_chunks


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
