"""A log handler writing the lines of an event loop's moment together: one system call, not one each.

A served chat logs two lines (its access line and its turn's), and ``logging.StreamHandler``
writes and flushes each on its own: under 200 chats, two ``write`` calls per chat on the event
loop, about 1 % of the worker's CPU. Here a line logged on a running event loop waits in a list
for at most ``delay`` seconds (0.1), and the loop writes what gathered in one call; a warning or
worse writes at once, after the lines before it, and so does a line logged where no loop runs
(start-up, a worker thread) or one that fills the list (``most`` lines). The lines, their order
and their content are ``StreamHandler``'s; what is still waiting is written by ``flush`` and by
``logging.shutdown`` at the process's exit. What a crash loses is at most ``delay`` seconds of
info lines, never a warning or an error.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TextIO


class BatchedStreamHandler(logging.StreamHandler[TextIO]):
    """``StreamHandler``, its writes gathered per ``delay`` on the running event loop."""

    def __init__(self, stream: TextIO | None = None, *, delay: float = 0.1, most: int = 256) -> None:
        super().__init__(stream)
        self.delay = delay
        self.most = most
        self._lines: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def emit(self, record: logging.LogRecord) -> None:  # called under the handler's lock
        try:
            line = self.format(record)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        lines = self._lines
        lines.append(line)
        if record.levelno >= logging.WARNING or len(lines) >= self.most or not self._later():
            self._write()

    def _later(self) -> bool:
        """Whether a write is due on this thread's running loop (one is scheduled if none is)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        if self._loop is not loop:  # the first loop, or a new one (an earlier loop ended first)
            self._loop = loop
            self._timer = None
        if self._timer is None:
            self._timer = loop.call_later(self.delay, self.flush)
        return True

    def _write(self) -> None:
        lines = self._lines
        if not lines:
            return
        self._lines = []
        try:
            self.stream.write("\n".join(lines) + self.terminator)
            self.stream.flush()
        except RecursionError:
            raise
        except Exception:  # as StreamHandler: report, carry on
            self.handleError(logging.makeLogRecord({"msg": lines[-1]}))

    def flush(self) -> None:
        self.acquire()
        try:
            # a timer still pending (when another caller flushes) finds nothing, or what came since
            self._timer = None
            self._write()
        finally:
            self.release()
