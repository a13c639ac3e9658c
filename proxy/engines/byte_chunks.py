"""Ending an ``httpx2`` response's byte iterator now, however far it was read.

``response.aiter_bytes()`` is an async generator over a stack of them (``aiter_raw``, the
client's bound stream, the transport's stream, httpcore's connection streams or aiohttp's).
``aclose()`` on the top one ends only the top few: each layer iterates the next with a plain
``async for``, which leaves the layer under it suspended when it is itself closed. What is left
is finalized later by the garbage collector, in a task the event loop schedules then; under load
or at shutdown that ran into a generator still executing ("async generator already executing"),
and the connection under it was released whenever that happened.

An exception raised at the bottom, though, passes up through every layer, and each one finishes.
So, once the response is closed (its connection closed or released, outside any cancellation, so
the close itself cannot be cut short), :func:`finish_chunks` reads on inside a cancelled scope: a
read of the closed stream fails, or what is still buffered comes out and the first read that would
wait is cancelled; either way the whole stack has finished before it returns.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

from proxy.engines.scopes import cancel_scope

__all__ = ("finish_chunks",)


async def finish_chunks(chunks: AsyncGenerator[bytes, None]) -> None:
    """End ``chunks`` and every generator under it, after their response was closed (see the
    module); failures of the read are the point, so they are dropped."""
    if getattr(chunks, "ag_frame", ...) is None:  # finished already (the body's end, an error, or closed)
        return
    with cancel_scope() as scope, contextlib.suppress(Exception):
        scope.cancel()
        async for _ in chunks:
            pass
