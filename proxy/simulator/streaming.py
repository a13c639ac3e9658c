"""A response that plays a *program*: body chunks, pauses and the two faults a stream can have.

A program is a generator yielding

* ``bytes`` - written to the body; consecutive chunks without a pause between them go out in
  one ASGI message, so an unpaced reply costs two sends whatever its length;
* ``float`` - a pause in seconds;
* :data:`STALL` - send nothing more, ever (until the client leaves or the owner cancels);
* :data:`CUT` - flush what was written and drop the connection without ending the body.

Generators change their record's state as they go (a response is completed, and its
conversation unlocked, before the ``response.completed`` bytes leave), so a client that got the
terminal event can rely on the server's state. Two things interrupt a program:

* the client disconnects: the generator is closed (its ``finally`` clauses abandon the work);
* the owner (a response or run being cancelled) cancels ``owner.stream_scope``:
  :class:`StreamCancelled` is thrown into the generator, which may yield closing events.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

import anyio
from litestar import Response
from litestar.response.base import ASGIResponse

from proxy.simulator import sse

if TYPE_CHECKING:
    from anyio import CancelScope
    from litestar import Litestar, Request
    from litestar.types import Receive, Scope, Send

__all__ = (
    "CUT",
    "STALL",
    "EventStream",
    "Program",
    "Step",
    "StreamCancelled",
    "StreamCut",
    "StreamOwner",
    "install_log_filter",
)


class _Marker(enum.Enum):
    STALL = "stall"
    CUT = "cut"


STALL: Final = _Marker.STALL
CUT: Final = _Marker.CUT

Step = bytes | float | _Marker
Program = Generator[Step, None, None]
Outcome = Literal["completed", "cut", "disconnected", "cancelled"]


class StreamCut(Exception):
    """Raised after the response started, so that the server drops the connection."""


class StreamCancelled(Exception):
    """Thrown into a program whose owner was cancelled; the program may yield closing events."""


class StreamOwner(Protocol):
    """A response or run whose cancellation interrupts the stream playing it."""

    stream_scope: CancelScope | None

    @property
    def terminal(self) -> bool:
        """Already finished; a stream that has not started yet only plays its closing events."""


class _CutLogFilter(logging.Filter):
    """Keep deliberate ``cut`` faults out of uvicorn's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, StreamCut):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def install_log_filter() -> None:
    """Idempotent; the filter sits on ``uvicorn.error``, where uvicorn reports app exceptions."""
    target = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _CutLogFilter) for f in target.filters):
        target.addFilter(_CutLogFilter())


class _ASGIEventStream(ASGIResponse):
    __slots__ = ("_disconnected", "_finished", "_headers", "_on_end", "_owner", "_program", "_send", "_started")

    def __init__(
        self,
        program: Program,
        headers: list[tuple[bytes, bytes]],
        owner: StreamOwner | None,
        on_end: Callable[[Outcome], None] | None,
    ) -> None:
        self._program = program
        self._headers = headers
        self._owner = owner
        self._on_end = on_end
        self._started = False
        self._finished = False
        self._disconnected = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._send = send
        outcome: Outcome = "cancelled"
        async with anyio.create_task_group() as group:
            if self._owner is not None:
                self._owner.stream_scope = group.cancel_scope
            group.start_soon(self._watch, receive, group.cancel_scope)
            if self._owner is not None and self._owner.terminal:
                group.cancel_scope.cancel()  # cancelled between the handler and now
            outcome = await self._play()
            if outcome == "cut":  # the body is unfinished: the watcher would wait for the client
                group.cancel_scope.cancel()
        if self._owner is not None:
            self._owner.stream_scope = None
        if self._disconnected and outcome == "cancelled":
            outcome = "disconnected"
        elif outcome == "cancelled":
            await self._write(self._tail(), more_body=False)
        self._program.close()  # runs the program's clean-up now, not whenever it is collected
        if self._on_end is not None:
            self._on_end(outcome)
        if outcome == "cut":
            raise StreamCut

    async def _watch(self, receive: Receive, scope: CancelScope) -> None:
        """Cancel the stream when the client leaves; returns by itself once the body is complete.

        (ASGI servers answer ``receive()`` with ``http.disconnect`` after the response is sent.)
        """
        while (await receive())["type"] != "http.disconnect":
            pass
        if not self._finished:
            self._disconnected = True
            scope.cancel()

    async def _play(self) -> Outcome:
        chunks: list[bytes] = []
        for step in self._program:
            if isinstance(step, bytes):
                chunks.append(step)
                continue
            if chunks or (step is CUT and not self._started):
                await self._write(b"".join(chunks))
                chunks.clear()
            if step is CUT:
                return "cut"
            if step is STALL:
                await anyio.sleep_forever()
            else:
                await anyio.sleep(step)
        self._finished = True
        await self._write(b"".join(chunks), more_body=False)
        return "completed"

    def _tail(self) -> bytes:
        chunks: list[bytes] = []
        try:
            step = self._program.throw(StreamCancelled())
            while True:
                if isinstance(step, bytes):
                    chunks.append(step)
                step = next(self._program)
        except (StopIteration, StreamCancelled):
            pass
        return b"".join(chunks)

    async def _write(self, body: bytes, *, more_body: bool = True) -> None:
        if not self._started:
            self._started = True
            await self._send({"type": "http.response.start", "status": 200, "headers": self._headers})
        await self._send({"type": "http.response.body", "body": body, "more_body": more_body})


class EventStream(Response[None]):
    """Return this from a handler to play ``program``; SSE unless another media type is given."""

    __slots__ = ("_on_end", "_owner", "_program")

    def __init__(
        self,
        program: Program,
        *,
        owner: StreamOwner | None = None,
        on_end: Callable[[Outcome], None] | None = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(None, media_type=media_type)
        self._program = program
        self._owner = owner
        self._on_end = on_end

    def to_asgi_response(self, app: Litestar | None, request: Request[Any, Any, Any], **kwargs: Any) -> ASGIResponse:
        headers = sse.HEADERS if self.media_type is None else [(b"content-type", str(self.media_type).encode())]
        return _ASGIEventStream(self._program, headers, self._owner, self._on_end)
