"""Streamed provider requests, read as the JSON objects they came as; shared by the engines.

The SDK builds a pydantic model per streamed chunk or event by walking its type annotations, which
costs more than everything else a turn does with it. ``open_stream`` posts through the SDK's own
request path (request building, auth, retries, status errors, in-stream ``error`` payloads) but
hands over the decoded JSON. ``reading`` is the ``async with`` around reading one stream::

    stream = await open_stream(client, "/responses", params)
    async with reading(stream) as events:
        async for event in events:
            ...  # yield what the event means

It closes the stream however the block ends (shielded, so a cancelled or closed consumer still
releases the connection) and turns failures of the read into ``EngineError``. It is not a nested
generator on purpose: the turn's generator (:func:`proxy.engines.rounds.run_rounds`) stays the
only one, so closing it closes the HTTP stream at once. ``RoundStream`` is what it reads: the SDK's
stream, or the offline engine's answer read the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Protocol

import anyio
import openai
from openai import AsyncStream

from proxy.engines.base import EngineError
from proxy.engines.errors import from_provider_exception, from_stream_exception


async def open_stream(client: openai.AsyncOpenAI, path: str, params: dict[str, Any]) -> AsyncStream[Any]:
    """POST ``params`` to ``path`` with ``stream: true``; failures before the stream are ``EngineError``."""
    try:
        return await client.post(
            path,
            body=params,
            options={"security": {"bearer_auth": True}},  # as the SDK's own create methods
            cast_to=object,
            stream=True,
            stream_cls=AsyncStream[object],
        )
    except Exception as exc:
        raise from_provider_exception(exc) from exc


class RoundStream(Protocol):
    """What ``reading`` reads: the SDK's ``AsyncStream``, or anything iterated and closed the same way."""

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
        with anyio.CancelScope(shield=True):
            await self._stream.close()
        if isinstance(exc, Exception) and not isinstance(exc, EngineError):
            raise from_stream_exception(exc) from exc


def reading(stream: RoundStream) -> _Reading:
    """Read ``stream`` inside ``async with``: see the module's docstring."""
    return _Reading(stream)
