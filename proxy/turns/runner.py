"""Runs one turn in its own task: engine events in, neutral events out, history and lock kept.

The turn is decoupled from the HTTP response that shows it: the response only follows the run's
channel. Stopping the turn (the visitor's Stop, a dropped connection, the turn timeout) cancels
this task's scope; the engine then cancels the provider's run, and the shielded epilogue saves
the finished part of the reply, releases the thread's lock and closes the stream with ``done``.

On the way to the provider the turn needs no query of its own: ``TurnManager.open`` took the lock,
stored the visitor's message and read the history (cut to the engine's window) in one statement
(a :class:`LockedThread`), and a capped tenant's budget is decided from this process's view of
today's usage (read again every 2 s).

The epilogue writes the reply, the token usage and the release in one statement; ``done`` follows
it, unless that write has to wait (many turns ending at once, a congested pool): then ``done`` goes
first and the write follows. A new message on the thread is refused (409) until the lock is
released, so the history stays in order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anyio

from proxy.console.marks import MarkKind, mark
from proxy.console.takeover import briefed
from proxy.engines.base import (
    ContextSaved,
    Engine,
    EngineError,
    EngineEvent,
    HistoryMessage,
    MessageCompleted,
    ReadPace,
    TextDelta,
    ToolFinished,
    ToolStarted,
    Turn,
    TurnFinished,
    Usage,
)
from proxy.engines.errors import for_visitor
from proxy.engines.factory import profile_for
from proxy.engines.offline import OFFLINE_MODEL, OfflineEngine
from proxy.leads.handoff import handoff_event, handoff_for_message
from proxy.observability import metrics
from proxy.store.event_log import EventLog
from proxy.store.threads import EndStep, LockedThread, ThreadStore
from proxy.tenants import TenantConfig
from proxy.tools.registry import ToolContext, ToolServices, ToolSet
from proxy.turns.channel import Alarms, RunChannel
from proxy.turns.events import (
    DONE,
    ERROR,
    HANDOFF,
    MESSAGE_COMPLETED,
    MESSAGE_DELTA,
    RUN_COMPLETED,
    RUN_STARTED,
    Event,
    engine_event_payload,
)
from proxy.usage.budget import BudgetGuard
from proxy.usage.store import UsageEntry
from proxy.visitors import Visitor

logger = logging.getLogger(__name__)

CANCELLED = EngineError("cancelled", "The reply was stopped.", retryable=True, status=409)
SHUTTING_DOWN = EngineError(
    "shutting_down", "The server is restarting; send the message again in a moment.", retryable=True, status=503
)


def _past_deadline(scope: anyio.CancelScope) -> None:
    scope.cancel()


TURN_TIMEOUT = EngineError("turn_timeout", "The reply took too long and was stopped.", retryable=True)
INTERRUPTED = EngineError(
    "interrupted",
    "The server writing this reply stopped; what it had written is in the thread's messages.",
    retryable=True,
)


@dataclass(frozen=True, slots=True)
class TurnServices:
    """What every turn of this process uses, built once with the app and held by the ``TurnManager``."""

    threads: ThreadStore
    event_log: EventLog
    budgets: BudgetGuard
    engines: Mapping[str, Engine]  # by tenant name
    toolsets: Mapping[str, ToolSet]  # by tenant name: the tools each tenant enabled
    timeout: float  # seconds a turn may run (PROXY_TURN_TIMEOUT)
    lease: float  # seconds of a turn's lock on its thread, renewed while it runs (PROXY_TURN_LEASE)
    tool_services: ToolServices = field(default_factory=ToolServices)  # for tools (ToolContext.services)


@dataclass(frozen=True, slots=True)
class TurnJob:
    """One turn, as ``TurnManager.open`` made it: the locked thread and what the request asked."""

    tenant_config: TenantConfig
    thread: LockedThread  # with the visitor's message stored and the history read
    run_id: str
    user_text: str
    visitor: Visitor  # whom the turn's tools serve
    engine: Engine
    tools: ToolSet
    window: int  # how many earlier messages the lock read (the engine's window then)
    page_url: str | None = None
    operator: bool = False  # the tenant's own server or staff: errors keep the provider's words

    @property
    def tenant(self) -> str:
        return self.tenant_config.name


class ActiveRun:
    """One running turn: its channel, its cancel scope, and what it has said so far."""

    def __init__(self, job: TurnJob, services: TurnServices) -> None:
        self.job = job
        self.services = services
        self.run_id = job.run_id
        self.thread_id = job.thread.id
        self.channel = RunChannel(ReadPace())
        self.scope = anyio.CancelScope()
        self.readers = 0  # connections following the run in this process
        self.persisting = False  # events are being copied to the event log
        self._seq = 0
        self._started = time.perf_counter()
        self._first_token_seen = False
        self.outcome = "completed"
        self._completed: list[str] = []
        self._partial: list[str] = []
        self._usage: UsageEntry | None = None
        # the thread's new provider id (a conversation created for it, or where the provider's context
        # goes on from), saved with the end and with each renewal of the lease (proxy.turns.leases)
        self.provider_state: str | None = None
        self._said_anything = False  # a text delta or tool call reached the visitor
        self._stopped_by: EngineError | None = None  # who stopped the turn, if anyone did (cancel)

    # -- publishing ------------------------------------------------------------------------------

    def publish(self, name: str, data: dict[str, Any]) -> None:
        self._seq += 1
        self.channel.publish(Event.make(self.run_id, self._seq, name, data))

    def cancel(self, reason: EngineError = CANCELLED) -> None:
        """Stop the turn; its stream ends with ``reason`` as the error (the first reason given wins)."""
        if not self.scope.cancel_called:  # neither stopped already nor past the turn's deadline
            self._stopped_by = reason
        self.scope.cancel()

    @property
    def finished(self) -> bool:
        return self.channel.closed

    async def channel_closed(self) -> None:
        async for _ in self.channel.follow(len(self.channel.events)):
            pass  # wait for the end; the events themselves are someone else's

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
            with anyio.CancelScope(shield=True):
                await self._epilogue()

    async def _stream(self) -> None:
        job = self.job
        await self._handoff_if_asked()
        decision = await self.services.budgets.decide(job.tenant_config)
        if decision.blocked:
            if job.tenant_config.fallback == "offline":
                await self._answer_offline("budget_offline")
            else:
                self._answer_without_provider(decision.message or "")
            return
        try:
            await self._run(job.engine, await self._prepare(job.engine, model=decision.model), decision.model)
        except EngineError as exc:
            if not self._may_fall_back(exc):
                raise
            # the provider failed before the visitor saw anything: the offline model answers instead
            metrics.UPSTREAM_ERRORS.labels(job.tenant, exc.code).inc()
            logger.warning(
                "provider failed, the offline model answers",
                extra={"tenant": job.tenant, "run_id": self.run_id, "code": exc.code, "detail": exc.message},
            )
            await self._answer_offline("provider_offline")

    async def _run(self, engine: Engine, turn: Turn, model: str | None) -> None:
        run_id, channel, partial = self.run_id, self.channel, self._partial
        async with aclosing(engine.stream_turn(turn)) as events:
            async for event in events:
                if type(event) is TextDelta:  # nearly every event: kept and published here, in one step
                    delta = event.delta
                    partial.append(delta)
                    if not self._first_token_seen:
                        self._first_token()
                    self._seq += 1
                    data = {"message_id": event.message_id, "delta": delta}
                    channel.publish(Event(run_id, self._seq, MESSAGE_DELTA, data))
                    continue
                if isinstance(event, ContextSaved):
                    self.provider_state = event.state
                    continue
                self._observe(event, model)
                name, data = engine_event_payload(run_id, event)
                self.publish(name, data)

    def _may_fall_back(self, error: EngineError) -> bool:
        """A provider failure before any text or tool call, for a tenant that chose the offline fallback."""
        return (
            self.job.tenant_config.fallback == "offline"
            and error.code.startswith("upstream_")
            and not self._said_anything
        )

    async def _answer_offline(self, outcome: str) -> None:
        self.outcome = outcome
        engine = OfflineEngine(profile_for(self.job.tenant_config))
        await self._run(engine, await self._prepare(engine, model=OFFLINE_MODEL), OFFLINE_MODEL)

    async def _prepare(self, engine: Engine, *, model: str | None) -> Turn:
        """The provider conversation (created on the first turn), the history ``engine`` asks for and
        the tool context.

        A conversation created here is stored with the turn's end (or its lease's next renewal,
        whichever comes first), not by a statement of its own: one round trip less on a first turn.
        """
        job = self.job
        conversation_id = job.thread.provider_id
        if conversation_id is None:
            conversation_id = await engine.create_conversation()
            if conversation_id is not None and self.provider_state is None:
                self.provider_state = conversation_id
        context = ToolContext(
            tenant=job.tenant,
            thread_id=self.thread_id,
            visitor=job.visitor,
            tenant_config=job.tenant_config,
            db=self.services.threads.db,
            run_id=self.run_id,
            emit=self.publish,
            page_url=job.page_url,
            services=self.services.tool_services,
        )
        # after a person handed the conversation back, the assistant first hears what it missed
        user_text = briefed(job.user_text, job.thread.briefing)
        history = await self._history(engine)
        return Turn(conversation_id, user_text, job.tools, context, history, model=model, pace=self.channel.pace)

    async def _history(self, engine: Engine) -> tuple[HistoryMessage, ...]:
        """The earlier messages ``engine`` sends along, oldest first (the visitor's new message is
        the turn's input, not history).

        The lock read them for the tenant's engine. Only the offline fallback of a tenant whose
        provider keeps the conversation (so nothing was read) reads its own, once.
        """
        window = engine.history_window()
        if window == 0:
            return ()
        if window <= self.job.window:
            read = self.job.thread.history or ()
            return read if len(read) <= window else read[-window:]
        before = self.job.thread.user_message_id
        return tuple(await self.services.threads.history(self.thread_id, limit=window, before=before))

    def _first_token(self) -> None:
        self._first_token_seen = self._said_anything = True
        elapsed = time.perf_counter() - self._started
        metrics.TIME_TO_FIRST_TOKEN.labels(self.job.tenant, self.job.engine.name).observe(elapsed)

    def _observe(self, event: EngineEvent, model: str | None) -> None:
        """Keep the reply for the history, and count what the metrics and the budget need (text
        deltas: in ``_run``)."""
        if isinstance(event, ToolStarted):
            self._said_anything = True
        elif isinstance(event, MessageCompleted):
            self._completed.append(event.content)
            self._partial.clear()
        elif isinstance(event, ToolFinished):
            metrics.TOOL_CALLS.labels(self.job.tenant, event.name, str(event.ok).lower()).inc()
            self._mark("tool", event.name, event.ok)
        elif isinstance(event, TurnFinished) and model != OFFLINE_MODEL:  # the offline model costs nothing
            self._count_usage(event.usage, model)

    async def _handoff_if_asked(self) -> None:
        """A tenant that offers handoffs hands over on its keywords or a plain request for a human."""
        job = self.job
        if "escalate_to_human" not in job.tools:  # the tenant does not offer handoffs
            return
        record = await handoff_for_message(
            self.services.threads.db,
            tenant=job.tenant,
            tenant_config=job.tenant_config,
            thread_id=self.thread_id,
            visitor=job.visitor,
            text=job.user_text,
        )
        if record is not None:
            self.publish(HANDOFF, handoff_event(record))

    def _count_usage(self, usage: Usage, model: str | None) -> None:
        """Counted now (metrics, this process's budget view); stored with the end of the turn."""
        metrics.TOKENS.labels(self.job.tenant, "input").inc(usage.input_tokens)
        metrics.TOKENS.labels(self.job.tenant, "output").inc(usage.output_tokens)
        entry = self.services.budgets.count(self.job.tenant, model or self.job.tenant_config.model, usage)
        if self._usage is not None:  # a second report for the turn: one entry holds both
            entry = dataclasses.replace(
                self._usage,
                input_tokens=self._usage.input_tokens + entry.input_tokens,
                output_tokens=self._usage.output_tokens + entry.output_tokens,
            )
        self._usage = entry

    def _answer_without_provider(self, text: str) -> None:
        """Past the hard budget cap: no provider call; the tenant's message offers lead capture."""
        self.outcome = "budget_exhausted"
        message_id = f"msg_{self.run_id}"
        self.publish(MESSAGE_DELTA, {"message_id": message_id, "delta": text})
        self.publish(MESSAGE_COMPLETED, {"message_id": message_id, "content": text})
        self._completed.append(text)
        self.publish(RUN_COMPLETED, {"run_id": self.run_id, "usage": {"input_tokens": 0, "output_tokens": 0}})

    def _mark(self, kind: MarkKind, name: str, ok: bool = True) -> None:
        # for the dashboard
        mark(self.services.tool_services.marks, self.job.tenant, self.thread_id, self.run_id, kind, name, ok)

    def _fail(self, error: EngineError) -> None:
        self.outcome = error.code
        if error.code != "cancelled":  # a stop is not an error
            self._mark("error", error.code, False)
        if error.code.startswith("upstream_"):
            metrics.UPSTREAM_ERRORS.labels(self.job.tenant, error.code).inc()
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
                    "cause": None if cause is None else _causes(cause),
                },
            )
        self.publish(ERROR, public.as_dict())

    def reply_so_far(self) -> str:
        """The reply as it would be saved now: finished messages and the one being written."""
        return "\n\n".join([*self._completed, "".join(self._partial)] if self._partial else self._completed)

    async def _epilogue(self) -> None:
        """Save the reply, the usage and the lock's release (one statement), and close the stream.

        ``done`` follows the write, or goes first when the write has to wait (a congested pool):
        a visitor's stream never waits on the database for long.
        """
        step: EndStep = "lost"
        try:
            async with aclosing(
                self.services.threads.finish_turn(
                    self.thread_id,
                    self.run_id,
                    self.reply_so_far(),
                    usage=self._usage,
                    provider_id=self.provider_state,
                )
            ) as steps:
                async for step in steps:
                    if step == "waiting":
                        self._end_stream()
        except Exception:  # the lease expires on its own; never leave the stream without `done`
            logger.exception("could not save the end of a turn", extra={"run_id": self.run_id})
            step = "lost"
        if step != "saved" and self._usage is not None:
            usage = self._usage
            logger.error(
                "token usage of a turn not stored",
                extra={
                    "tenant": usage.tenant,
                    "model": usage.model,
                    "input": usage.input_tokens,
                    "output": usage.output_tokens,
                },
            )
        metrics.TURNS.labels(self.job.tenant, self.outcome).inc()
        logger.info(
            "turn finished",
            extra={
                "tenant": self.job.tenant,
                "thread_id": self.thread_id,
                "run_id": self.run_id,
                "outcome": self.outcome,
                "duration_ms": round((time.perf_counter() - self._started) * 1000),
                "events": self._seq + 1,
            },
        )
        self._end_stream()

    def _end_stream(self) -> None:
        if not self.channel.closed:
            self.publish(DONE, {})
            self.channel.close()


def _causes(exc: BaseException, depth: int = 4) -> str:
    """``exc`` and what it came from, innermost last (the SDK's "timed out" over a refused connection)."""
    named: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(named) < depth:
        named.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return " <- ".join(named)
