"""One streamed answer of a provider, read as its events: what the chat and responses engines
iterate (opened by :class:`proxy.engines.provider_http.StreamEndpoint`, which explains why these
streams bypass the SDK).

The body comes from our own client (:mod:`proxy.engines.wire`, split into events as it arrives)
or from any ``httpx2`` client's byte stream (split here). Each event's data is decoded once, by the
engine's decoder or as plain JSON; an ``{"error": ...}`` payload fails the turn after the events
before it; ``[DONE]`` ends the stream and the rest of the body is drained briefly, so the
connection can be kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import anyio
import httpx2
import msgspec.json

from proxy.engines.base import EngineError
from proxy.engines.byte_chunks import finish_chunks
from proxy.engines.errors import TRANSPORT_ERRORS, error_payload, malformed_event, read_failed
from proxy.engines.sse_split import DataSplitter

__all__ = ("Body", "EventStream", "HttpxBody", "decoded")

_DRAIN_SECONDS = 0.1  # after [DONE], how long the rest of the body may take (as the SDK)
_decode = msgspec.json.Decoder().decode


class Body(Protocol):
    """An answered request as :class:`EventStream` reads it."""

    status: int
    headers: Mapping[str, str]  # case-insensitive, or lower-case names

    async def events(self) -> list[bytes]:
        """The data of the next events of the body (at least one); ``[]`` at its end."""
        ...

    async def read_all(self) -> bytes: ...

    async def drain(self, seconds: float) -> None:
        """Read what is left for at most ``seconds``, so the connection can be kept."""
        ...

    async def close(self) -> None:
        """Release the response now (closing the connection if the body was not read to its end)."""
        ...


class HttpxBody:
    __slots__ = ("_chunks", "_response", "_split", "headers", "status")

    def __init__(self, response: httpx2.Response) -> None:
        self._response = response
        self._chunks = response.aiter_bytes()
        self._split = DataSplitter()
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers

    async def events(self) -> list[bytes]:
        async for chunk in self._chunks:
            if chunk:
                events = self._split.feed(chunk)
                if events:
                    return events
        return self._split.finish()

    async def read_all(self) -> bytes:
        return await self._response.aread()

    async def drain(self, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            async for _ in self._chunks:
                pass

    async def close(self) -> None:
        await self._response.aclose()
        await finish_chunks(self._chunks)  # not left to the garbage collector: see there


class EventStream:
    """One streamed answer: its events as the JSON objects they came as (or as ``decode`` makes
    them), until ``[DONE]`` or the end of the body; ``close()`` ends the response (see the module)."""

    __slots__ = ("_body", "_decode", "_done", "_ready")

    def __init__(self, body: Body, decode: Callable[[bytes], Any] | None = None) -> None:
        self._body = body
        self._decode = decode or decoded
        self._ready: list[bytes] = []  # the data of events not handed out yet, last first
        self._done = False

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Any:
        ready = self._ready
        if not ready:
            events = await self._read()
            if not events:
                raise StopAsyncIteration
            if len(events) == 1:
                return self._decode(events[0])  # one event in the read
            ready += reversed(events)
        # decoded one by one: an error payload fails the turn after the events before it
        return self._decode(ready.pop())

    async def next_batch(self) -> list[Any]:
        """The events of the next read, decoded (at least one); ``[]`` at the end.

        What :func:`proxy.engines.rounds.run_rounds` reads: one step of the turn per read rather than
        one per event (a read carries several when the reading is paced: see
        :mod:`proxy.engines.wire.pacing`). An error payload raises after the events before it are
        handed out, as with ``__anext__``.
        """
        ready = self._ready
        if ready:
            payloads, self._ready = ready[::-1], []
        else:
            payloads = await self._read()
        decode, out = self._decode, []
        for i, payload in enumerate(payloads):
            try:
                out.append(decode(payload))
            except EngineError:
                if not out:
                    raise
                self._ready = payloads[i:][::-1]  # (last first) the next call raises
                return out
        return out

    async def _read(self) -> list[bytes]:
        """The data of the next read's events, up to ``[DONE]``; ``[]`` at the end."""
        while not self._done:
            try:
                events = await self._body.events()
            except TRANSPORT_ERRORS as exc:
                raise read_failed(exc) from exc
            if not events:
                self._done = True
                break
            for i, payload in enumerate(events):
                if payload.startswith(b"[DONE]"):
                    self._done = True
                    await self._body.drain(_DRAIN_SECONDS)
                    events = events[:i]
                    break
            if events:
                return events
        return []

    async def close(self) -> None:
        await self._body.close()


def decoded(payload: bytes) -> Any:
    """An event's data as the JSON value it is; an ``{"error": ...}`` payload raised."""
    try:
        event = _decode(payload)
    except msgspec.DecodeError as exc:
        raise malformed_event() from exc
    if type(event) is dict and event.get("error"):
        raise error_payload(event["error"])
    return event
