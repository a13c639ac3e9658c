"""Engine for the Assistants protocol (threads and runs): Azure OpenAI and compatible servers.

One turn is one run on the visitor's thread. The run streams ``thread.*`` events; when it stops in
``requires_action`` we run every requested tool, submit all outputs in one request and keep reading
the stream that request opens. Model, instructions and tools come from our config on every run, so
a provider-side assistant is only an id to run against. The SDK sends the streamed requests; their
responses are read by :class:`~proxy.engines.assistant_events.RunEvents` (see there why).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import anyio
import httpx2
import openai
from openai.types.beta.function_tool_param import FunctionToolParam
from openai.types.beta.threads import Message, MessageDeltaEvent, Run
from openai.types.beta.threads.run_create_params import TruncationStrategy
from openai.types.beta.threads.run_submit_tool_outputs_params import ToolOutput
from openai.types.shared import ErrorObject

from proxy.engines.assistant_events import RunEvents
from proxy.engines.base import (
    AssistantProfile,
    Engine,
    EngineError,
    EngineEvent,
    MessageCompleted,
    TextDelta,
    Turn,
    Usage,
)
from proxy.engines.errors import failed_run, from_provider_exception, malformed_event
from proxy.engines.rounds import RoundEnd, ToolRounds, run_rounds
from proxy.engines.toolcalls import ToolCall
from proxy.tools.registry import ToolOutcome, ToolSet

# Every beta.threads / beta.assistants method warns DeprecationWarning when called: once attributed
# to our call site, and for some methods once more to the SDK's argument checker. Filters on this
# module and on the SDK's message are narrow, cost nothing per call and, unlike
# ``warnings.catch_warnings``, never swap the process-wide filter list under other tasks or threads.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=rf"{re.escape(__name__)}\Z")
warnings.filterwarnings("ignore", message="The Assistants API is deprecated", category=DeprecationWarning)

logger = logging.getLogger(__name__)

_CLEANUP_SECONDS = 5.0
_TERMINAL = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})
_RUN_EVENTS = frozenset(  # thread.run.* events carry the Run; thread.run.step.* events are not needed
    f"thread.run.{name}" for name in ("created", "queued", "in_progress", "requires_action", "cancelling", *_TERMINAL)
)
_USED_EVENTS = _RUN_EVENTS | {"thread.message.delta", "thread.message.completed", "error"}
_RUN_ACTIVE_HINTS = ("while a run", "already has an active run")


@dataclass(slots=True)
class _RunState:
    """What the turn knows about its run; the clean-up reads it to decide what to cancel.

    It also folds each round's stream (``on_event``: a ``(name, data)`` pair of
    :class:`~proxy.engines.assistant_events.RunEvents`): run events only update ``run``.
    """

    thread_id: str
    run: Run | None = None
    started: bool = False  # runs.create was sent
    interrupted: bool = False  # the consumer closed the turn or was cancelled

    @property
    def status(self) -> str | None:
        return self.run.status if self.run is not None else None

    @property
    def usage(self) -> Usage:
        """The completed run's usage already covers every tool round of the run; other rounds count 0."""
        if self.run is None or self.run.status != "completed" or self.run.usage is None:
            return Usage()
        return Usage(self.run.usage.prompt_tokens, self.run.usage.completion_tokens)

    def on_event(self, event: tuple[str, Any]) -> EngineEvent | None:
        return _translate(*event, self)


def _truncation(window: int) -> TruncationStrategy | openai.Omit:
    """The thread's last ``window`` earlier messages and the new one reach the model (0: the provider's ``auto``)."""
    if window <= 0:
        return openai.omit
    return {"type": "last_messages", "last_messages": window + 1}


class AssistantsEngine(Engine):
    """One tenant's assistant on an Assistants-compatible provider; the client is not owned."""

    name = "assistants"

    def __init__(self, client: openai.AsyncOpenAI, profile: AssistantProfile) -> None:
        self.client = client
        self.profile = profile
        self._assistant_id = profile.assistant_id
        self._assistant_lock = anyio.Lock()

    # -- conversations ---------------------------------------------------------------------------

    async def create_conversation(self) -> str:
        try:
            thread = await self.client.beta.threads.create()
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise from_provider_exception(exc) from exc
        return thread.id

    async def delete_conversation(self, conversation_id: str | None) -> None:
        if not conversation_id:
            return
        try:
            await self.client.beta.threads.delete(conversation_id)
        except openai.NotFoundError:
            pass
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise from_provider_exception(exc) from exc

    # -- one turn --------------------------------------------------------------------------------

    def stream_turn(self, turn: Turn) -> AsyncGenerator[EngineEvent, None]:
        return run_rounds(_AssistantsRounds(self, turn))

    async def _ensure_assistant(self, tools: ToolSet) -> str:
        """The configured assistant id, or one created from the profile on first use."""
        if self._assistant_id is not None:
            return self._assistant_id
        async with self._assistant_lock:
            if self._assistant_id is None:
                profile = self.profile
                created = await self.client.beta.assistants.create(
                    model=profile.model, instructions=profile.instructions, tools=_tool_params(tools)
                )
                self._assistant_id = created.id
        return self._assistant_id

    async def _start_run(
        self, thread_id: str, assistant_id: str, tools: ToolSet, model: str | None = None
    ) -> RunEvents:
        profile = self.profile
        stream = await self.client.beta.threads.runs.create(
            thread_id,
            assistant_id=assistant_id,
            model=model or profile.model,
            instructions=profile.instructions,
            tools=_tool_params(tools),
            temperature=openai.omit if profile.temperature is None else profile.temperature,
            truncation_strategy=_truncation(profile.history_window),
            stream=True,
        )
        return RunEvents(stream.response)  # the SDK's own iterator is never started

    async def _submit(self, state: _RunState, calls: Sequence[ToolCall], outcomes: Sequence[ToolOutcome]) -> RunEvents:
        assert state.run is not None
        outputs: list[ToolOutput] = [
            {"tool_call_id": call.call_id, "output": outcome.output}
            for call, outcome in zip(calls, outcomes, strict=True)
        ]
        stream = await self.client.beta.threads.runs.submit_tool_outputs(
            state.run.id, thread_id=state.thread_id, tool_outputs=outputs, stream=True
        )
        return RunEvents(stream.response)

    async def _cleanup(self, state: _RunState) -> None:
        """When the turn ends before its run did, cancel the run (its streams are closed already)."""
        try:
            run_id = await self._unfinished_run(state)
            if run_id is not None:
                await self.client.beta.threads.runs.cancel(run_id, thread_id=state.thread_id)
        except Exception:
            logger.debug("cancelling the run on thread %s failed", state.thread_id, exc_info=True)

    async def _unfinished_run(self, state: _RunState) -> str | None:
        if state.run is not None:
            return state.run.id if state.run.status not in _TERMINAL else None
        if not (state.started and state.interrupted):
            return None
        # Stopped before the run announced itself: the thread's newest run is ours (one turn at a time).
        page = await self.client.beta.threads.runs.list(state.thread_id, limit=1, order="desc")
        latest = page.data[0] if page.data else None
        return latest.id if latest is not None and latest.status not in _TERMINAL else None


class _AssistantsRounds(ToolRounds[_RunState]):
    """One run: the first round starts it, each later one submits the outputs of the calls before.

    The provider cannot be told to stop calling tools, so the last round asks nothing different.
    """

    def __init__(self, engine: AssistantsEngine, turn: Turn) -> None:
        super().__init__(turn, engine.profile.max_tool_rounds)
        self._engine = engine
        self._state = _RunState(turn.conversation_id or "")
        self._assistant_id = ""
        self._answers: tuple[Sequence[ToolCall], Sequence[ToolOutcome]] | None = None

    async def begin(self) -> Sequence[EngineEvent]:
        turn, state = self.turn, self._state
        if not turn.conversation_id:
            raise EngineError("internal", "The assistants engine needs a thread id.", status=500)
        try:
            self._assistant_id = await self._engine._ensure_assistant(turn.tools)
            await self._engine.client.beta.threads.messages.create(state.thread_id, role="user", content=turn.user_text)
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise _map_error(exc) from exc
        state.started = True
        return ()

    async def open(self, last: bool) -> tuple[RunEvents, _RunState]:
        engine, state = self._engine, self._state
        try:
            if self._answers is None:
                stream = await engine._start_run(state.thread_id, self._assistant_id, self.turn.tools, self.turn.model)
            else:
                stream = await engine._submit(state, *self._answers)
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise _map_error(exc) from exc
        return stream, state

    def finish(self, state: _RunState) -> RoundEnd:
        if state.status == "completed":
            return RoundEnd()
        if state.status != "requires_action":
            raise _stop_error(state.run)
        return RoundEnd(_tool_calls(state.run))

    def answered(self, calls: Sequence[ToolCall], outcomes: Sequence[ToolOutcome]) -> Sequence[EngineEvent]:
        self._answers = (calls, outcomes)
        return ()

    async def end(self, interrupted: bool) -> None:
        self._state.interrupted = interrupted
        with anyio.move_on_after(_CLEANUP_SECONDS, shield=True):
            await self._engine._cleanup(self._state)


# -- events ---------------------------------------------------------------------------------------


def _translate(kind: str, data: Any, state: _RunState) -> EngineEvent | None:
    """One provider event -> at most one neutral event; run events only update ``state``.

    The models are built as the SDK builds them (``construct``: nested models, nothing validated)."""
    if kind not in _USED_EVENTS:
        return None
    if type(data) is not dict:
        raise malformed_event()
    if kind == "thread.message.delta":
        delta = MessageDeltaEvent.construct(**data)
        text = _delta_text(delta)
        return TextDelta(delta.id, text) if text else None
    if kind == "thread.message.completed":
        message = Message.construct(**data)
        return MessageCompleted(message.id, _message_text(message)) if message.role == "assistant" else None
    if kind == "error":
        error = ErrorObject.construct(**data)
        raise failed_run(error.code, error.message)
    state.run = Run.construct(**data)
    return None


def _delta_text(delta: MessageDeltaEvent) -> str:
    parts = delta.delta.content or ()
    return "".join(p.text.value for p in parts if p.type == "text" and p.text is not None and p.text.value)


def _message_text(message: Message) -> str:
    return "".join(part.text.value for part in message.content if part.type == "text")


def _tool_params(tools: ToolSet) -> list[FunctionToolParam]:
    return cast("list[FunctionToolParam]", tools.function_schemas())


def _tool_calls(run: Run | None) -> list[ToolCall]:
    action = run.required_action if run is not None else None
    if action is None:
        return []
    return [ToolCall(c.id, c.function.name, c.function.arguments) for c in action.submit_tool_outputs.tool_calls]


# -- errors ---------------------------------------------------------------------------------------


def _stop_error(run: Run | None) -> EngineError:
    """Why a run stream ended without completing."""
    status = run.status if run is not None else None
    if status == "failed":
        error = run.last_error  # type: ignore[union-attr]
        return failed_run(error.code if error else None, error.message if error else None)
    if status == "cancelled":
        return EngineError("cancelled", "The reply was cancelled before it finished.", status=409)
    if status == "expired":
        return EngineError(
            "upstream_timeout", "The AI provider's run expired before it finished.", retryable=True, status=504
        )
    if status == "incomplete":
        details = run.incomplete_details  # type: ignore[union-attr]
        reason = f" ({details.reason})" if details and details.reason else ""
        return EngineError("upstream_failed", f"The AI provider stopped the reply early{reason}.")
    return EngineError(
        "upstream_stream_cut", "The AI provider's stream ended before the reply finished.", retryable=True
    )


def _map_error(exc: Exception) -> EngineError:
    """A request that failed before its stream (failures while reading one: ``from_stream_exception``)."""
    if isinstance(exc, openai.BadRequestError) and any(hint in exc.message for hint in _RUN_ACTIVE_HINTS):
        return EngineError(
            "upstream_bad_request",
            "Another reply is still running in this conversation; try again when it has finished.",
            retryable=True,
            status=409,
        )
    return from_provider_exception(exc)
