"""Reading one streamed request of a round, shared by the engines.

The chat and responses engines open their streams with
:meth:`proxy.engines.provider_http.StreamEndpoint.open` (events as the JSON objects they came
as, no SDK on that path); the assistants engine through the SDK, reading the response itself
(:class:`~proxy.engines.assistant_events.RunEvents`). ``reading`` is the ``async with`` around
reading one stream::

    stream = await endpoint.open("/responses", params)
    async with reading(stream) as events:
        async for event in events:
            ...  # yield what the event means

It closes the stream however the block ends (shielded, so a cancelled or closed consumer still
releases the connection) and turns failures of the read into ``EngineError``. It is not a nested
generator on purpose: the turn's generator (:func:`proxy.engines.rounds.run_rounds`) stays the
only one, so closing it closes the HTTP stream at once. ``RoundStream`` is what it reads: an
:class:`~proxy.engines.provider_http.EventStream`, a run's
:class:`~proxy.engines.assistant_events.RunEvents`, or the offline engine's answer read the same
way. Whatever reads an ``httpx2`` response ends its byte iterator in ``close()`` too
(:func:`~proxy.engines.byte_chunks.finish_chunks`), so no generator of the stream is left to the
garbage collector.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Protocol

from proxy.engines.base import EngineError
from proxy.engines.errors import from_stream_exception
from proxy.engines.scopes import cancel_scope


class RoundStream(Protocol):
    """What ``reading`` reads: anything iterated and closed like the SDK's ``AsyncStream``."""

    def __aiter__(self) -> AsyncIterator[Any]: ...

    async def close(self) -> None: ...


class _Reading:
    __slots__ = ("_stream",)

    def __init__(self, stream: RoundStream) -> None:
        self._stream = stream

    async def __aenter__(self) -> RoundStream:
        return self._stream

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with cancel_scope(shield=True):
            await self._stream.close()
        if isinstance(exc, Exception) and not isinstance(exc, EngineError):
            raise from_stream_exception(exc) from exc


def reading(stream: RoundStream) -> _Reading:
    """Read ``stream`` inside ``async with``: see the module's docstring."""
    return _Reading(stream)
