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
from proxy.engines.sse_split import EventSplitter

__all__ = ("RunEvents",)

_DRAIN_SECONDS = 0.1  # after [DONE], how long the rest of the body may take (as the SDK)
_decode = msgspec.json.Decoder().decode


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
