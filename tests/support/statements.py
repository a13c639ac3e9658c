"""The statements a request sends to Postgres, and those of the tasks it starts, in order.

``note_statements(monkeypatch)`` makes every psycopg cursor note its statements while a
:func:`recording` is active in the caller's context; tasks started from that context (the request's
turn, a batch of statements it joined) inherit it, the worker's background tasks do not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import psycopg
import pytest

_RECORDING: ContextVar[list[str] | None] = ContextVar("recorded_statements", default=None)


def note_statements(monkeypatch: pytest.MonkeyPatch) -> None:
    execute = psycopg.AsyncCursor.execute

    async def noting(self: Any, query: Any, params: Any = None, **options: Any) -> Any:
        if (log := _RECORDING.get()) is not None:
            log.append(query if isinstance(query, str) else repr(query))
        return await execute(self, query, params, **options)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", noting)


@contextmanager
def recording(into: list[str]) -> Iterator[None]:
    """Statements sent in this context (and tasks started from it) are appended to ``into``."""
    token = _RECORDING.set(into)
    try:
        yield
    finally:
        _RECORDING.reset(token)
