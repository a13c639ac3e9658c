"""A run's streamed events, read from the response the openai SDK opened.

The assistants engine sends its runs through the SDK (its retries, headers and status errors) but
does not iterate the SDK's ``AsyncStream``: that is a generator over generators, and on ``[DONE]``
or a close it leaves the ones under it suspended (``_iter_events`` and the response's byte
iterators) for the garbage collector to finalize some time later. Here the response's bytes are
read by one iterator this object owns and ends (:func:`~proxy.engines.byte_chunks.finish_chunks`)
when the round's stream is closed, so nothing of a run's stream outlives its round.

Each event is its name and its data decoded, as the SDK hands them over: ``thread.*`` events are
kept whatever their data; another event whose data is an ``{"error": ...}`` object fails the turn
(the SDK's ``APIError``); ``[DONE]`` ends the stream and the rest of the body is drained briefly.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import anyio
import httpx2
import msgspec.json

from proxy.engines.byte_chunks import finish_chunks
from proxy.engines.errors import TRANSPORT_ERRORS, error_payload, malformed_event, read_failed

__all__ = ("EventSplitter", "RunEvents")

_DRAIN_SECONDS = 0.1  # after [DONE], how long the rest of the body may take (as the SDK)
_BOM = b"\xef\xbb\xbf"
_decode = msgspec.json.Decoder().decode


class EventSplitter:
    """The name and data of each server-sent event in a byte stream fed in reads of any size.

    Lines end with LF, CRLF or CR; ``event`` and ``data`` fields are kept (several ``data`` lines
    joined by a newline), comments and other fields skipped; an event without data is dropped and
    one without a name is a ``message``. At the end, an event whose last line ended but whose blank
    line never came is handed over too; a line cut off in the middle is dropped.
    """

    __slots__ = ("_data", "_name", "_rest", "_skip_lf", "_started")

    def __init__(self) -> None:
        self._rest = b""  # the unfinished line
        self._skip_lf = False  # the last read ended with CR: an LF opening the next one is its pair
        self._started = False
        self._name: str | None = None
        self._data: bytes | None = None

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        if self._skip_lf:
            self._skip_lf = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        if b"\r" in chunk:
            self._skip_lf = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._rest + chunk
        if not self._started:
            if len(buf) < len(_BOM) and _BOM.startswith(buf):
                self._rest = buf  # too short yet to tell whether the stream opens with a BOM
                return []
            self._started = True
            buf = buf.removeprefix(_BOM)
        *lines, self._rest = buf.split(b"\n")
        out: list[tuple[str, bytes]] = []
        for line in lines:
            self._line(line, out)
        return out

    def finish(self) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        self._rest = b""  # cut inside a line
        self._line(b"", out)
        return out

    def _line(self, line: bytes, out: list[tuple[str, bytes]]) -> None:
        if not line:  # the blank line ending an event
            if self._data is not None:
                out.append((self._name or "message", self._data))
            self._name, self._data = None, None
            return
        field, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if field == b"data":
            self._data = value if self._data is None else self._data + b"\n" + value
        elif field == b"event":
            self._name = value.decode("utf-8", "replace")


class RunEvents:
    """One streamed request of a run (its start or its submitted outputs): ``(name, data)`` pairs
    until ``[DONE]`` or the body's end. ``close()`` ends the byte iterator and the response."""

    __slots__ = ("_chunks", "_done", "_ready", "_response", "_split")

    def __init__(self, response: httpx2.Response) -> None:
        self._response = response
        self._chunks = response.aiter_bytes()
        self._split = EventSplitter()
        self._ready: deque[tuple[str, bytes]] = deque()
        self._done = False

    def __aiter__(self) -> RunEvents:
        return self

    async def __anext__(self) -> tuple[str, Any]:
        ready = self._ready
        while not ready:
            if self._done:
                raise StopAsyncIteration
            await self._read()
        name, data = ready.popleft()
        if data.startswith(b"[DONE]"):
            self._done = True
            ready.clear()
            await self._drain()
            raise StopAsyncIteration
        return name, _decoded(name, data)

    async def _read(self) -> None:
        try:
            chunk = await anext(self._chunks, None)
        except TRANSPORT_ERRORS as exc:
            raise read_failed(exc) from exc
        if chunk is None:
            self._done = True
            self._ready.extend(self._split.finish())
        elif chunk:
            self._ready.extend(self._split.feed(chunk))

    async def _drain(self) -> None:
        """Read the rest of the body for a moment, so the connection can be kept."""
        try:
            with anyio.move_on_after(_DRAIN_SECONDS):
                async for _ in self._chunks:
                    pass
        except TRANSPORT_ERRORS:
            pass  # the answer is complete; only the connection is lost

    async def close(self) -> None:
        await self._response.aclose()
        await finish_chunks(self._chunks)


def _decoded(name: str, data: bytes) -> Any:
    try:
        value = _decode(data)
    except msgspec.DecodeError as exc:
        raise malformed_event() from exc
    if not name.startswith("thread.") and type(value) is dict and value.get("error"):
        raise error_payload(value["error"])
    return value
