"""What the console needs running in each worker: the live hub and the turn marks' writer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Request

from proxy.console.live import LiveHub, running_hub
from proxy.console.marks import TurnMarks, keeping_marks
from proxy.store.db import Database


@dataclass(frozen=True, slots=True)
class ConsoleRuntime:
    hub: LiveHub
    marks: TurnMarks


@asynccontextmanager
async def open_console(db: Database) -> AsyncIterator[ConsoleRuntime]:
    async with running_hub(db) as hub, keeping_marks(db) as marks:
        yield ConsoleRuntime(hub, marks)


def console_of(request: Request[Any, Any, Any]) -> ConsoleRuntime:
    runtime: ConsoleRuntime = request.app.state.console
    return runtime
