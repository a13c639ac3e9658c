"""Log lines logged on the event loop are written together; warnings and lines off the loop at once."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import Iterator

import pytest

from proxy.observability.batched import BatchedStreamHandler


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO, BatchedStreamHandler]]:
    stream = io.StringIO()
    handler = BatchedStreamHandler(stream, delay=0.05)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.batched")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, stream, handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


class Writes(io.StringIO):
    """A stream counting its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


async def written(stream: io.StringIO, after: str = "") -> str:
    """What the stream holds once more than ``after`` was written to it (the loop's timer writes)."""
    async with asyncio.timeout(30):  # only keeps a broken handler from hanging the test
        while stream.getvalue() == after:
            await asyncio.sleep(0.01)
    return stream.getvalue()


async def test_lines_of_the_loop_are_written_together_later() -> None:
    stream = Writes()
    handler = BatchedStreamHandler(stream, delay=0.05)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for n in range(3):
        handler.handle(logging.makeLogRecord({"msg": f"line {n}", "levelno": logging.INFO}))
    assert stream.getvalue() == ""  # waiting for the loop's timer
    assert await written(stream) == "line 0\nline 1\nline 2\n"
    assert stream.writes == 1


async def test_a_warning_writes_at_once_after_the_lines_before_it(
    logged: tuple[logging.Logger, io.StringIO, BatchedStreamHandler],
) -> None:
    logger, stream, _ = logged
    logger.info("first")
    logger.warning("careful")
    assert stream.getvalue() == "INFO first\nWARNING careful\n"
    logger.info("after")
    assert stream.getvalue() == "INFO first\nWARNING careful\n"
    assert await written(stream, after=stream.getvalue()) == "INFO first\nWARNING careful\nINFO after\n"


def test_lines_logged_where_no_loop_runs_are_written_at_once(
    logged: tuple[logging.Logger, io.StringIO, BatchedStreamHandler],
) -> None:
    logger, stream, _ = logged
    logger.info("starting")
    assert stream.getvalue() == "INFO starting\n"
    worker = threading.Thread(target=logger.info, args=("from a thread",))
    worker.start()
    worker.join()
    assert stream.getvalue() == "INFO starting\nINFO from a thread\n"


async def test_flush_writes_what_waits_and_a_full_list_writes_itself(
    logged: tuple[logging.Logger, io.StringIO, BatchedStreamHandler],
) -> None:
    logger, stream, handler = logged
    logger.info("waiting")
    handler.flush()  # as logging.shutdown does at exit
    assert stream.getvalue() == "INFO waiting\n"
    handler.most = 2
    logger.info("one")
    logger.info("two")
    assert stream.getvalue() == "INFO waiting\nINFO one\nINFO two\n"


def test_a_new_loop_gets_its_own_timer(logged: tuple[logging.Logger, io.StringIO, BatchedStreamHandler]) -> None:
    logger, stream, _ = logged

    async def log_and_leave() -> None:
        logger.info("left behind")  # its loop ends before the timer fires

    asyncio.run(log_and_leave())
    assert stream.getvalue() == ""

    async def log_and_wait() -> str:
        logger.info("next loop")
        return await written(stream)

    assert asyncio.run(log_and_wait()) == "INFO left behind\nINFO next loop\n"
