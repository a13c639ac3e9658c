"""Where turns run: a task group owned by the app, and the index of runs in this process."""

from __future__ import annotations

import logging

import anyio
from anyio.abc import TaskGroup

from proxy.turns.runner import ActiveRun, TurnJob

logger = logging.getLogger(__name__)


class TurnManager:
    """Starts turns as tasks of the app's task group, so they outlive no app and no request.

    ``detach`` is called when the visitor's connection goes away: the turn is cancelled after
    ``disconnect_grace`` seconds unless it finished first (0 cancels at once).
    """

    def __init__(self, task_group: TaskGroup, *, disconnect_grace: float = 0.0) -> None:
        self._task_group = task_group
        self._grace = disconnect_grace
        self._runs: dict[str, ActiveRun] = {}

    def start(self, job: TurnJob) -> ActiveRun:
        run = ActiveRun(job)
        self._runs[run.run_id] = run
        self._task_group.start_soon(self._execute, run, name=f"turn {run.run_id}")
        return run

    async def _execute(self, run: ActiveRun) -> None:
        try:
            await run.execute()
        finally:
            self._runs.pop(run.run_id, None)

    def get(self, run_id: str) -> ActiveRun | None:
        return self._runs.get(run_id)

    def cancel(self, run_id: str, *, thread_id: str) -> bool:
        run = self._runs.get(run_id)
        if run is None or run.thread_id != thread_id:
            return False
        run.cancel()
        return True

    def detach(self, run: ActiveRun) -> None:
        if run.finished:
            return
        if self._grace <= 0:
            run.cancel()
        else:
            self._task_group.start_soon(self._cancel_later, run)

    async def _cancel_later(self, run: ActiveRun) -> None:
        with anyio.move_on_after(self._grace):
            await run.channel_closed()
        run.cancel()

    @property
    def active(self) -> int:
        return len(self._runs)

    def cancel_all(self) -> None:
        for run in list(self._runs.values()):
            run.cancel()
