"""A chat turn from admission to ``done``: where turns start, run and are followed.

A request's turn goes through three calls here, top to bottom:

1. :meth:`TurnManager.admit`, before any work for it: refused while the manager drains for shutdown
   or while the :class:`~proxy.turns.admission.Admission` says the worker is overloaded;
2. :meth:`TurnManager.open`: in one statement the thread's lock (a lease), the visitor's message
   and the history the engine sends along; then the turn runs in a task of its own
   (:class:`~proxy.turns.runner.ActiveRun`, which ends it: reply, usage and release, then ``done``);
3. :meth:`TurnManager.follow`, the run's events for the response (or :meth:`TurnManager.resume`
   after a lost connection, here or from the event log of another worker).

A run is followed by zero or more readers. When the last reader goes away the run keeps going for
``disconnect_grace`` seconds, writing its events to the event log so that a reconnect on any worker
can pick it up; if nobody comes back it is cancelled (:mod:`proxy.turns.dropped_readers`). What a
turn is asked for and how a thread refuses it: :mod:`proxy.turns.turn_request`.

Turns run as plain asyncio tasks kept by the manager, not as tasks of the app's task group: an
anyio task carries a handle, a cancel scope and an event of its own (about 2 KB and 40 µs each).
The task group still holds the turns' fate, through one task while any turn runs
(:meth:`TurnManager._keep`): the group's end waits for them, and its cancellation ends each one as
a drain does, its reply saved and its stream closed with ``done``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
from anyio.abc import TaskGroup

from proxy.engines.base import Engine
from proxy.observability.metrics import OPEN_STREAMS, TURNS_REFUSED
from proxy.store.threads import HeldThread, LockedThread, NewTurn, new_id
from proxy.turns.admission import Admission, TurnRefused
from proxy.turns.dropped_readers import DroppedReaders
from proxy.turns.eager import start_eagerly
from proxy.turns.events import DONE, Batches
from proxy.turns.first_turn import ThreadCreation, expected_thread
from proxy.turns.runner import INTERRUPTED, SHUTTING_DOWN, ActiveRun, TurnJob, TurnServices
from proxy.turns.stops import NOT_CREATED
from proxy.turns.turn_request import ThreadBusy, ThreadHeld, ThreadMissing, TurnRequest, turn_visitor
from proxy.turns.young_gc import StartingTurns

__all__ = ("CUT_WAIT", "DISCONNECT_GRACE", "TurnManager")

logger = logging.getLogger(__name__)

CUT_WAIT = 10.0  # seconds a drain waits for the turns it ended to send `done`
DISCONNECT_GRACE = 10.0  # default of PROXY_DISCONNECT_GRACE: a turn outlives its reader this long
ADMITTED_POLL = 0.05  # seconds between two looks at turns admitted but not started, while draining


class TurnManager:
    def __init__(
        self,
        task_group: TaskGroup,
        services: TurnServices,
        *,
        disconnect_grace: float = DISCONNECT_GRACE,
        admission: Admission | None = None,
    ) -> None:
        self._task_group = task_group
        self.services = services
        self._dropped = DroppedReaders(task_group, services, disconnect_grace)
        self._runs: dict[str, ActiveRun] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # the turns' tasks, running or ending
        self._idle: asyncio.Event | None = None  # set when the last turn's task ends
        self._keeping = False  # a task of the group follows the turns' tasks (see _keep)
        self._admitted = StartingTurns()  # admitted, not started yet (young collections wait while many are)
        self.admission = admission or Admission()
        self.accepting = True
        # a drain's cut (or the group's cancellation) ended the running turns: one holding its thread
        # only since (its statement outlived the cut, e.g. a first message's) is ended at once (_holding)
        self._cut = False

    # -- admitting ---------------------------------------------------------------------------------

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a place for a turn until it is started (or the request fails); TurnRefused if none.

        Turns admitted but not started yet count against the cap on running turns, so that
        concurrent requests cannot all slip under it while they wait for their thread's lock.
        """
        reason = "shutting_down" if not self.accepting else self.admission.refusal(self.active + self._admitted.count)
        if reason is not None:
            TURNS_REFUSED.labels(reason).inc()
            raise TurnRefused(reason)
        self._admitted.enter()
        try:
            yield
        finally:
            self._admitted.leave()

    # -- opening -----------------------------------------------------------------------------------

    async def open(self, ask: TurnRequest) -> ActiveRun:
        """Lock the thread for a new run and start the turn; call it within :meth:`admit`.

        One statement takes the lock (a lease of ``services.lease`` seconds, renewed while the turn
        runs: :mod:`proxy.turns.leases`), stores the message and reads the history the tenant's
        engine sends along. :class:`ThreadMissing` or :class:`ThreadBusy` when the thread is not
        the caller's or not free; nothing is stored then. :class:`ThreadHeld` (``ask.for_holder``):
        a person of the staff holds the thread, and the message was stored for them. With
        ``ask.new_thread`` the statement creates the thread instead, locked (a new thread has no
        history to read).
        """
        services = self.services
        engine = services.engines[ask.tenant.name]
        window = engine.history_window()
        run_id = new_id("run")
        if ask.new_thread:
            tenant = ask.tenant
            new = NewTurn(ask.thread_id, tenant.name, ask.visitor, tenant.engine, run_id, services.lease, ask.text)
            return await self._open_first(ask, new, engine, window)
        result, thread = await services.threads.lock(
            ask.thread_id,
            tenant=ask.tenant.name,
            visitor=ask.binding,
            user_id=ask.visitor.user_id,
            run_id=run_id,
            lease_seconds=services.lease,
            user_text=ask.text,
            history=window,
            for_holder=ask.for_holder,
        )
        if result == "missing":
            raise ThreadMissing(ask.thread_id)
        if result == "busy":
            raise ThreadBusy(ask.thread_id)
        if result == "held":
            assert isinstance(thread, HeldThread)
            raise ThreadHeld(thread)
        assert isinstance(thread, LockedThread)
        if thread.abandoned_run is not None:
            # taken over from a worker that died: end the dead turn's saved stream, if any (the thread
            # is locked for this turn now: a failure here must not keep it from starting)
            try:
                await services.event_log.end_abandoned([thread.abandoned_run], INTERRUPTED.as_dict())
            except Exception:
                logger.warning("could not end the stream of a dead turn", extra={"run_id": thread.abandoned_run})
        return await self._start(ask, thread, run_id, engine, window)

    async def _open_first(self, ask: TurnRequest, new: NewTurn, engine: Engine, window: int) -> ActiveRun:
        """A thread's first message: the turn starts at once, on the thread as it will be stored,
        and sends its provider request while the statement creating the thread (locked, with the
        message) runs; what must wait for the thread waits (:mod:`proxy.turns.first_turn`). If the
        statement fails, the turn is cancelled with nothing written, and so is this request."""
        run = self._run(ask, expected_thread(new), new.run_id, engine, window)
        run.creating = creating = ThreadCreation(asyncio.get_running_loop())
        self._launch(run)
        try:
            created = await self.services.threads.create_locked(new)
        except BaseException:
            run.cancel(NOT_CREATED)
            creating.settle(False)
            raise
        run.job = dataclasses.replace(run.job, thread=created)
        self._holding(run)
        run.creating = None
        creating.settle(True)
        return run

    async def _start(
        self, ask: TurnRequest, thread: LockedThread, run_id: str, engine: Engine, window: int
    ) -> ActiveRun:
        """Run the turn of a thread just locked for it, in a task of its own (see the module)."""
        run = self._run(ask, thread, run_id, engine, window)
        self._holding(run)
        self._launch(run)
        return run

    def _holding(self, run: ActiveRun) -> None:
        """The run holds its thread from now on (leases, drains, stops); after a drain's cut, it ends
        as the cut turns did (its stream with ``shutting_down`` and ``done``, its lock released)."""
        self._runs[run.run_id] = run
        if self._cut:
            run.cancel(SHUTTING_DOWN)

    def _run(self, ask: TurnRequest, thread: LockedThread, run_id: str, engine: Engine, window: int) -> ActiveRun:
        services = self.services
        job = TurnJob(
            tenant_config=ask.tenant,
            thread=thread,
            run_id=run_id,
            user_text=ask.text,
            visitor=turn_visitor(thread, ask.visitor),
            engine=engine,
            tools=services.toolsets[ask.tenant.name],
            window=window,
            page_url=ask.page_url,
            operator=ask.operator,
        )
        return ActiveRun(job, services)

    def _launch(self, run: ActiveRun) -> None:
        """Run the turn in a task of its own (see the module), started eagerly: it has run up to its
        first wait, its provider request sent, when this returns (:mod:`proxy.turns.eager`)."""
        task = start_eagerly(self._execute(run), name=f"turn {run.run_id}")
        self._tasks.add(task)
        task.add_done_callback(self._ended)
        if not self._keeping:
            self._keeping = True
            self._task_group.start_soon(self._keep, name="turns")

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            # (the turn catches its own failures: this is a bug, not to end the process with)
            logger.error("a turn's task failed", exc_info=error)
        if not self._tasks and self._idle is not None:
            self._idle.set()

    async def _keep(self) -> None:
        """While turns run, hold the app's task group open for them; cancelled (the group ends with
        an error, or is cancelled), end every turn as a drain does and wait for their epilogues."""
        try:
            while self._tasks:
                self._idle = idle = asyncio.Event()
                await idle.wait()
        except BaseException:
            with anyio.CancelScope(shield=True):
                self._cut = True  # (a first message's turn whose thread is stored meanwhile, too)
                for run in list(self._runs.values()):
                    run.cancel(SHUTTING_DOWN)
                with anyio.move_on_after(CUT_WAIT):
                    while self._tasks:
                        await asyncio.wait(list(self._tasks))
            raise
        finally:
            self._idle = None
            self._keeping = False

    # -- running -----------------------------------------------------------------------------------

    async def _execute(self, run: ActiveRun) -> None:
        try:
            await run.execute()
        finally:
            self._runs.pop(run.run_id, None)

    def holding_threads(self) -> list[ActiveRun]:
        """The runs of this process that hold their thread: running, or saving their end."""
        return list(self._runs.values())

    def cancel(self, run_id: str, *, thread_id: str) -> bool:
        run = self._runs.get(run_id)
        if run is None or run.thread_id != thread_id:
            return False
        run.cancel()
        return True

    @property
    def active(self) -> int:
        return len(self._runs)

    # -- readers ---------------------------------------------------------------------------------

    async def follow(self, run: ActiveRun, *, heartbeat: float | None, start: int = 0) -> Batches:
        """The run's events from index ``start`` in batches (None: quiet for ``heartbeat`` seconds),
        for every client protocol. If the reader goes away first, :meth:`detach` decides the run's fate.
        """
        self.attach(run)
        saw_done = False
        open_streams = OPEN_STREAMS.labels(run.job.tenant)
        open_streams.inc()
        try:
            # events published while this response waited come as one batch: under load, one send
            # (through every middleware, then a syscall) per batch instead of one per token
            async for batch in run.channel.follow(start, heartbeat=heartbeat):
                yield batch
                if batch is not None:
                    saw_done = batch[-1].name == DONE
        finally:
            open_streams.dec()
            self.detach(run, saw_done=saw_done)

    async def resume(self, thread_id: str, run_id: str, *, after: int, heartbeat: float) -> Batches | None:
        """A run of the thread from event ``after`` on, wherever it runs: here, or from the event log
        (another worker's, or one that ended); None if there is no such run of that thread."""
        run = self._runs.get(run_id)
        if run is not None and run.thread_id == thread_id:
            return self.follow(run, heartbeat=heartbeat, start=after)
        return await self.services.event_log.resume(run_id, thread_id, after=after, heartbeat=heartbeat)

    def attach(self, run: ActiveRun) -> None:
        run.readers += 1

    def detach(self, run: ActiveRun, *, saw_done: bool) -> None:
        """A reader's connection ended, after ``done`` or because it dropped: the last one gone
        before ``done``, :class:`~proxy.turns.dropped_readers.DroppedReaders` decides the run's fate."""
        run.readers -= 1
        if saw_done or run.readers > 0:
            return
        self._dropped.left(run)

    # -- shutting down -----------------------------------------------------------------------------

    async def drain(self, timeout: float) -> None:
        """Refuse new turns, give running ones ``timeout`` seconds to finish, then end the rest with
        ``shutting_down`` (the partial reply saved, ``done`` sent) and wait for their streams to close."""
        if self.accepting:
            self.accepting = False
            if self._runs:
                logger.info("draining %d running turn(s) for up to %.0f s", len(self._runs), timeout)
        with anyio.move_on_after(timeout):
            while (running := [run for run in self._runs.values() if not run.finished]) or self._admitted.count:
                if running:
                    await running[0].channel_closed()
                else:
                    await anyio.sleep(ADMITTED_POLL)  # a turn admitted just before the drain is about to start
        cut = [run for run in self._runs.values() if not run.finished]
        self._cut = True
        for run in cut:
            run.cancel(SHUTTING_DOWN)
        with anyio.move_on_after(CUT_WAIT):  # their epilogues are shielded and quick
            for run in cut:
                await run.channel_closed()
