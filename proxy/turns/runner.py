"""Runs one turn in its own task: engine events in, neutral events out, history and lock kept.

A chat turn reads top to bottom in these modules: ``TurnManager.open`` (``manager``) locks the
thread and makes a :class:`~proxy.turns.job.TurnJob`; this module runs it (start, stream, fail,
end); ``preparation`` makes the engine's ``Turn``; the engine streams its events, which
:meth:`ActiveRun.relay` publishes on the run's channel (``channel``) and hands to the turn's
:class:`~proxy.turns.reply.TurnRecord`; ``fallback`` answers without the provider; ``saving``
writes the end; the HTTP response follows the channel and writes the events as its protocol's bytes.

The turn is decoupled from the HTTP response that shows it: the response only follows the run's
channel. Stopping the turn (the visitor's Stop, a dropped connection, the turn timeout) cancels
this task's scope; the engine then cancels the provider's run, and the shielded epilogue saves
the finished part of the reply, releases the thread's lock and closes the stream with ``done``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import aclosing
from typing import Any

import anyio

from proxy.engines.base import ContextSaved, Engine, EngineError, ReadPace, TextDelta, Turn
from proxy.engines.errors import for_visitor
from proxy.engines.scopes import cancel_scope
from proxy.observability import metrics
from proxy.turns.channel import Alarms, RunChannel
from proxy.turns.events import DONE, ERROR, MESSAGE_DELTA, RUN_STARTED, Event, engine_event_payload
from proxy.turns.fallback import answer_offline, answer_without_provider, may_fall_back
from proxy.turns.first_turn import ThreadCreation
from proxy.turns.job import TurnJob, TurnServices
from proxy.turns.preparation import hand_off_if_asked, prepare_turn
from proxy.turns.reply import TurnRecord
from proxy.turns.saving import save_turn_end
from proxy.turns.series import series
from proxy.turns.stops import CANCELLED, INTERRUPTED, SHUTTING_DOWN, TURN_TIMEOUT, causes

__all__ = ("CANCELLED", "INTERRUPTED", "SHUTTING_DOWN", "TURN_TIMEOUT", "ActiveRun", "TurnJob", "TurnServices")

logger = logging.getLogger(__name__)


PROVIDER_DELETE_WAIT = 10.0  # seconds a turn whose thread was never stored tries to delete its conversation


def _past_deadline(scope: anyio.CancelScope) -> None:
    scope.cancel()


class ActiveRun:
    """One running turn: its channel, its cancel scope, and what it has said so far."""

    def __init__(self, job: TurnJob, services: TurnServices) -> None:
        self.job = job
        self.services = services
        self.run_id = job.run_id
        self.thread_id = job.thread.id
        self.channel = RunChannel(ReadPace())
        self.scope = cancel_scope()
        self.record = TurnRecord(job, services)
        self.readers = 0  # connections following the run in this process
        self.persisting = False  # events are being copied to the event log
        self._seq = 0
        self.outcome = "completed"
        # the thread's new provider id (a conversation created for it, or where the provider's context
        # goes on from), saved with the end and with each renewal of the lease (proxy.turns.leases)
        self.provider_state: str | None = None
        self._stopped_by: EngineError | None = None  # who stopped the turn, if anyone did (cancel)
        # a first message's thread while the statement creating it runs (proxy.turns.first_turn)
        self.creating: ThreadCreation | None = None
        self._unmarked: list[str] = []  # errors of the turn before its thread was stored, marked once it is

    # -- publishing ------------------------------------------------------------------------------

    def publish(self, name: str, data: dict[str, Any]) -> None:
        self._seq += 1
        self.channel.publish(Event.make(self.run_id, self._seq, name, data))

    def cancel(self, reason: EngineError = CANCELLED) -> None:
        """Stop the turn; its stream ends with ``reason`` as the error (the first reason given wins)."""
        if not self.scope.cancel_called:  # neither stopped already nor past the turn's deadline
            self._stopped_by = reason
        self.scope.cancel()

    async def thread_created(self) -> bool:
        """Wait until the run's thread is stored (at once, but for a first message whose statement is
        in flight: :mod:`proxy.turns.first_turn`); False if it never will be."""
        creating = self.creating
        if creating is None:
            return True
        created = await creating.wait()
        if created:
            self.creating = None
        return created

    @property
    def finished(self) -> bool:
        return self.channel.closed

    async def channel_closed(self) -> None:
        async for _ in self.channel.follow(len(self.channel.events)):
            pass  # wait for the end; the events themselves are someone else's

    def reply_so_far(self) -> str:
        """The reply as it would be saved now: finished messages and the one being written."""
        return self.record.reply_so_far()

    def end_stream(self) -> None:
        """``done``, once, and the channel closed: every follower's stream ends."""
        if not self.channel.closed:
            self.publish(DONE, {})
            self.channel.close()

    # -- the turn --------------------------------------------------------------------------------

    async def execute(self) -> None:
        self.publish(RUN_STARTED, {"thread_id": self.thread_id, "run_id": self.run_id})
        # the turn timeout cancels the turn's own scope: no second scope (with its context managers)
        # held for as long as the turn runs, and no timer of its own (one for every turn of the worker)
        deadlines = Alarms.shared(asyncio.get_running_loop(), self.services.timeout, _past_deadline)
        try:
            deadlines.add(self.scope)
            with self.scope:
                try:
                    await self._stream()
                except EngineError as exc:
                    self._fail(exc)
                except TimeoutError:
                    self._fail(TURN_TIMEOUT)
                except Exception:
                    logger.exception("turn failed", extra={"run_id": self.run_id, "thread_id": self.thread_id})
                    self._fail(EngineError("internal", "The assistant failed unexpectedly.", retryable=True))
            if self.scope.cancelled_caught:
                self._fail(self._stopped_by or TURN_TIMEOUT)  # nobody stopped it: the deadline passed
        finally:
            deadlines.discard(self.scope)
            with cancel_scope(shield=True):
                await self._epilogue()

    async def _stream(self) -> None:
        job = self.job
        await hand_off_if_asked(self)
        decision = await self.services.budgets.decide(job.tenant_config)
        if decision.blocked:
            if job.tenant_config.fallback == "offline":
                await answer_offline(self, "budget_offline")
            else:
                answer_without_provider(self, decision.message or "")
            return
        try:
            await self.relay(job.engine, await prepare_turn(self, job.engine, model=decision.model), decision.model)
        except EngineError as exc:
            await self.thread_created()  # (the offline model reads the stored history)
            if not may_fall_back(self, exc):
                raise
            # the provider failed before the visitor saw anything: the offline model answers instead
            series(metrics.UPSTREAM_ERRORS, job.tenant, exc.code).inc()
            logger.warning(
                "provider failed, the offline model answers",
                extra={"tenant": job.tenant, "run_id": self.run_id, "code": exc.code, "detail": exc.message},
            )
            await answer_offline(self, "provider_offline")

    async def relay(self, engine: Engine, turn: Turn, model: str | None) -> None:
        """Stream ``turn`` from ``engine``: every event published on the channel, and recorded."""
        run_id, channel, record = self.run_id, self.channel, self.record
        partial = record.partial
        async with aclosing(engine.stream_turn(turn)) as events:
            async for event in events:
                if type(event) is TextDelta:  # nearly every event: kept and published here, in one step
                    delta = event.delta
                    partial.append(delta)
                    if not record.first_token_seen:
                        if self.creating is not None:  # nothing is shown before the thread is stored
                            await self.thread_created()
                        record.first_token()
                    self._seq += 1
                    data = {"message_id": event.message_id, "delta": delta}
                    channel.publish(Event(run_id, self._seq, MESSAGE_DELTA, data))
                    continue
                if isinstance(event, ContextSaved):  # kept at once: a conversation to delete if the thread never is
                    self.provider_state = event.state
                    continue
                if self.creating is not None:  # (a tool call, the end: they write about the thread)
                    await self.thread_created()
                record.observe(event, model)
                name, data = engine_event_payload(run_id, event)
                self.publish(name, data)

    def _fail(self, error: EngineError) -> None:
        self.outcome = error.code
        if error.code != "cancelled":  # a stop is not an error
            if self.creating is None:
                self.record.mark("error", error.code, False)
            else:  # no mark on a thread not stored yet: made once it is (_epilogue), none if it never is
                self._unmarked.append(error.code)
        if error.code.startswith("upstream_"):
            series(metrics.UPSTREAM_ERRORS, self.job.tenant, error.code).inc()
        public = error if self.job.operator else for_visitor(error)
        cause = error.__cause__
        if public is not error or cause is not None:
            # the provider's words, and why it could not be reached (a refused proxy tunnel, a
            # rejected certificate), are for the operator only
            logger.warning(
                "provider error",
                extra={
                    "tenant": self.job.tenant,
                    "run_id": self.run_id,
                    "code": error.code,
                    "provider_detail": error.message,
                    "cause": None if cause is None else causes(cause),
                },
            )
        self.publish(ERROR, public.as_dict())

    async def _drop_provider_copy(self) -> None:
        """Delete the conversation the turn of a thread never stored created on the provider.

        It holds the visitor's message, and no thread of ours records it: neither the thread's
        deletion nor the visitor's erasure could reach it later. Tried once here; if that fails, the
        worker's :class:`~proxy.turns.provider_deletes.ProviderDeletes` tries again until it is done.
        """
        created = self.provider_state
        if created is None or created == self.job.thread.provider_id:
            return
        failure = f"no answer within {PROVIDER_DELETE_WAIT:g} s"
        with anyio.move_on_after(PROVIDER_DELETE_WAIT):
            try:
                await self.job.engine.delete_conversation(created)
                return
            except Exception as exc:
                failure = str(exc) or type(exc).__name__
        deletes = self.services.provider_deletes
        logger.warning(
            "could not delete the provider conversation %s of a thread never stored: %s%s",
            created,
            failure,
            "; trying again" if deletes is not None else "",
            extra={"tenant": self.job.tenant, "run_id": self.run_id, "provider_id": created, "detail": failure},
        )
        if deletes is not None:
            deletes.put(self.job.tenant, self.job.engine, created, failure)

    async def _epilogue(self) -> None:
        """Save the end (``saving``), count and log the turn, and close the stream."""
        if not await self.thread_created():  # a first message whose thread was never stored: nothing to save
            self.end_stream()
            await self._drop_provider_copy()
            return
        for code in self._unmarked:
            self.record.mark("error", code, False)
        await save_turn_end(self)
        series(metrics.TURNS, self.job.tenant, self.outcome).inc()
        logger.info(
            "turn finished",
            extra={
                "tenant": self.job.tenant,
                "thread_id": self.thread_id,
                "run_id": self.run_id,
                "outcome": self.outcome,
                "duration_ms": round((time.perf_counter() - self.record.started) * 1000),
                "events": self._seq + 1,
            },
        )
        self.end_stream()
