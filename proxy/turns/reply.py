"""What a turn observed from its engine's events: the reply, the usage, and whether anything was said.

The runner relays each event to the visitor and hands the ones that matter after the stream here:
the reply (kept for the history, the lease's drafts and the end's write), the token usage (counted
for the budget and the metrics at once, stored with the end), and whether the visitor saw a word or
a tool call yet (until then a provider failure may still be answered by the offline model). Text
deltas are kept by the runner's own loop (``ActiveRun.relay``): they are nearly every event.
"""

from __future__ import annotations

import dataclasses
import time

from proxy.console.marks import MarkKind, mark
from proxy.engines.base import EngineEvent, MessageCompleted, ToolFinished, ToolStarted, TurnFinished, Usage
from proxy.engines.offline import OFFLINE_MODEL
from proxy.observability import metrics
from proxy.turns.job import TurnJob, TurnServices
from proxy.turns.series import series
from proxy.usage.store import UsageEntry

__all__ = ("TurnRecord",)


class TurnRecord:
    """The reply so far (``completed`` messages and the ``partial`` one being written), the turn's
    usage, and the first token's time (for the time-to-first-token metric)."""

    __slots__ = (
        "_job",
        "_services",
        "completed",
        "first_token_seen",
        "partial",
        "said_anything",
        "started",
        "usage",
    )

    def __init__(self, job: TurnJob, services: TurnServices) -> None:
        self._job = job
        self._services = services
        self.started = time.perf_counter()
        self.completed: list[str] = []
        self.partial: list[str] = []  # the deltas of the message being written (cleared, never replaced)
        self.usage: UsageEntry | None = None
        self.first_token_seen = False
        self.said_anything = False  # a text delta or tool call reached the visitor

    def first_token(self) -> None:
        self.first_token_seen = self.said_anything = True
        elapsed = time.perf_counter() - self.started
        series(metrics.TIME_TO_FIRST_TOKEN, self._job.tenant, self._job.engine.name).observe(elapsed)

    def observe(self, event: EngineEvent, model: str | None) -> None:
        """Keep the reply for the history, and count what the metrics and the budget need (text
        deltas: in ``ActiveRun.relay``)."""
        if isinstance(event, ToolStarted):
            self.said_anything = True
        elif isinstance(event, MessageCompleted):
            self.completed.append(event.content)
            self.partial.clear()
        elif isinstance(event, ToolFinished):
            series(metrics.TOOL_CALLS, self._job.tenant, event.name, "true" if event.ok else "false").inc()
            self.mark("tool", event.name, event.ok)
        elif isinstance(event, TurnFinished) and model != OFFLINE_MODEL:  # the offline model costs nothing
            self._count_usage(event.usage, model)

    def _count_usage(self, usage: Usage, model: str | None) -> None:
        """Counted now (metrics, this process's budget view); stored with the end of the turn."""
        job = self._job
        series(metrics.TOKENS, job.tenant, "input").inc(usage.input_tokens)
        series(metrics.TOKENS, job.tenant, "output").inc(usage.output_tokens)
        entry = self._services.budgets.count(job.tenant, model or job.tenant_config.model, usage)
        if self.usage is not None:  # a second report for the turn: one entry holds both
            entry = dataclasses.replace(
                self.usage,
                input_tokens=self.usage.input_tokens + entry.input_tokens,
                output_tokens=self.usage.output_tokens + entry.output_tokens,
            )
        self.usage = entry

    def mark(self, kind: MarkKind, name: str, ok: bool = True) -> None:
        """A mark on the dashboard's view of the thread (a tool called, an error)."""
        job = self._job
        mark(self._services.tool_services.marks, job.tenant, job.thread.id, job.run_id, kind, name, ok)

    def reply_so_far(self) -> str:
        """The reply as it would be saved now: finished messages and the one being written."""
        return "\n\n".join([*self.completed, "".join(self.partial)] if self.partial else self.completed)
