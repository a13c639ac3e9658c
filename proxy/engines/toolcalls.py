"""Running one batch of the model's function calls, for the tool-round loop (:mod:`proxy.engines.rounds`).

Usage inside the turn's generator::

    for call in calls:
        yield call.started()
    outcomes = await dispatch_all(calls, turn.tools, turn.tool_context)
    for call, outcome in zip(calls, outcomes):
        yield call.finished(outcome)

The calls run concurrently, but events come out in the model's order: every ``ToolStarted``
before any tool runs, every ``ToolFinished`` once the whole batch is done (the provider needs all
outputs before it can continue anyway). Nothing is yielded while the task group is open, so the
turn's generator never suspends inside a cancel scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import anyio

from proxy.engines.base import ToolFinished, ToolStarted
from proxy.tools.registry import ToolContext, ToolOutcome, ToolSet


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call requested by the model."""

    call_id: str
    name: str
    arguments: str  # raw JSON text, as the model wrote it

    def started(self) -> ToolStarted:
        return ToolStarted(self.call_id, self.name)

    def finished(self, outcome: ToolOutcome) -> ToolFinished:
        return ToolFinished(self.call_id, self.name, outcome.ok)


async def dispatch_all(calls: Sequence[ToolCall], tools: ToolSet, ctx: ToolContext) -> list[ToolOutcome]:
    """Run every call concurrently; outcomes in the order of ``calls``. Never raises for a tool."""
    if len(calls) == 1:
        call = calls[0]
        return [await tools.dispatch(call.name, call.arguments, ctx, call_id=call.call_id)]
    outcomes: list[ToolOutcome | None] = [None] * len(calls)

    async def run(index: int, call: ToolCall) -> None:
        outcomes[index] = await tools.dispatch(call.name, call.arguments, ctx, call_id=call.call_id)

    async with anyio.create_task_group() as tg:
        for index, call in enumerate(calls):
            tg.start_soon(run, index, call)
    return cast(list[ToolOutcome], outcomes)  # every slot is filled once the group exits
