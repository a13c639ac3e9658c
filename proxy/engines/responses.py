"""The Responses API, against OpenAI or any server that speaks it.

The assistant lives in our config: model, instructions and tools go out with every request
(instructions do not persist in a conversation). One turn is one or more streamed responses: when
a response ends with function calls, the calls run and their outputs open the next response, up
to ``profile.max_tool_rounds`` rounds.

The conversation's context reaches the provider in one of three ways (``profile.context``, found
out per base URL when ``auto``; see :mod:`proxy.engines.context`):

* ``conversations``: a provider conversation per thread; each request names it.
* ``previous_response``: each request names the response before it; the last one (and outputs of
  calls it left open) is kept as the thread's provider id through ``ContextSaved``.
* ``history``: the last ``profile.history_window`` messages of our transcript (the turn's history,
  cut so by the turn runner) go out as ``input`` with the new message; later rounds of the turn
  resend what the turn has added (calls, outputs).

The tool loop (:mod:`proxy.engines.rounds`), cancellation and the events are the same in all three.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import anyio
import openai

from proxy.engines.base import (
    AssistantProfile,
    ContextSaved,
    Engine,
    EngineError,
    EngineEvent,
    MessageCompleted,
    TextDelta,
    Turn,
    Usage,
)
from proxy.engines.context import (
    Chain,
    ContextProbes,
    is_conversation_id,
    no_conversations_api,
    unknown_previous_response,
)
from proxy.engines.errors import failed_run, from_provider_exception, stream_ended_early
from proxy.engines.modes import ContextMode
from proxy.engines.provider_http import StreamEndpoint
from proxy.engines.rounds import RoundEnd, ToolRounds, run_rounds, shared_options
from proxy.engines.streams import RoundStream
from proxy.engines.toolcalls import ToolCall
from proxy.tools.registry import ToolOutcome

logger = logging.getLogger(__name__)

NOT_RUN = "Error: this tool call was not run because the reply ended early."
_SETTLE_TIMEOUT = 5.0  # seconds for the best-effort clean-up of unanswered calls
_ITEMS_PER_REQUEST = 20  # the Conversations API's limit for items.create


class _Round:
    """Folds the events of one streamed response into neutral events.

    Events arrive as the JSON objects they came as (no SDK model per event: building one was the
    costliest step of a turn). Remembers the function calls, the usage and whether the response
    reached ``response.completed``. Failures the provider reports inside the stream are raised as
    ``EngineError``.
    """

    __slots__ = ("calls", "completed", "message_id", "replay", "response_id", "usage")

    def __init__(self) -> None:
        self.calls: list[ToolCall] = []
        self.completed = False
        self.message_id = ""  # the message item being written, for deltas that do not name theirs
        self.usage = Usage()
        self.response_id: str | None = None
        self.replay: list[dict[str, Any]] = []  # the output as input items, for a provider that keeps nothing

    def on_event(self, event: dict[str, Any]) -> EngineEvent | None:
        kind = event.get("type")
        if kind == "response.output_text.delta" or kind == "response.refusal.delta":
            delta = event.get("delta")
            if not delta:
                return None
            return TextDelta(event.get("item_id") or self.message_id, delta)
        if kind == "response.output_item.added":
            item = event.get("item") or {}
            if item.get("type") == "message" and item.get("id"):
                self.message_id = item["id"]
        elif kind == "response.output_item.done":
            return self._item_done(event.get("item") or {})
        elif kind == "response.completed":
            self._completed(event.get("response") or {})
        elif kind == "response.failed":
            error = (event.get("response") or {}).get("error") or {}
            raise failed_run(error.get("code"), error.get("message"))
        elif kind == "response.incomplete":
            raise _incomplete(event.get("response") or {})
        elif kind == "error":
            raise failed_run(event.get("code"), event.get("message"))
        return None

    def _item_done(self, item: dict[str, Any]) -> MessageCompleted | None:
        kind = item.get("type")
        if kind == "message":
            text = _message_text(item)
            if text:
                self.replay.append({"type": "message", "role": "assistant", "content": text})
            return MessageCompleted(item.get("id") or self.message_id, text)
        if kind == "function_call":
            call = _tool_call(item)
            self.calls.append(call)
            self.replay.append(_call_item(call))
        return None

    def _completed(self, response: dict[str, Any]) -> None:
        self.completed = True
        self.response_id = response.get("id") or None
        usage = response.get("usage")
        if usage:
            self.usage = Usage(usage.get("input_tokens") or 0, usage.get("output_tokens") or 0)
        if not self.calls:  # servers that skip output_item.done still list the calls here
            output = response.get("output") or ()
            self.calls = [_tool_call(item) for item in output if item.get("type") == "function_call"]
            self.replay.extend(_call_item(call) for call in self.calls)


def _tool_call(item: dict[str, Any]) -> ToolCall:
    return ToolCall(item.get("call_id") or "", item.get("name") or "", item.get("arguments") or "")


def _call_item(call: ToolCall) -> dict[str, Any]:
    """A function call as input (no item id: a provider that stores nothing knows none)."""
    return {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments}


def _user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": text}


def _from_history(turn: Turn) -> list[dict[str, Any]]:
    """The turn's history (already cut to the window) and the new message, as input items."""
    return [*({"type": "message", "role": m.role, "content": m.content} for m in turn.history), _user(turn.user_text)]


def _message_text(item: dict[str, Any]) -> str:
    return "".join(
        (part.get("text") if part.get("type") == "output_text" else part.get("refusal")) or ""
        for part in item.get("content") or ()
    )


def _incomplete(response: dict[str, Any]) -> EngineError:
    reason = (response.get("incomplete_details") or {}).get("reason")
    if reason == "max_output_tokens":
        return EngineError("upstream_failed", "The reply was cut short: the model reached its output limit.")
    if reason == "content_filter":
        return EngineError("upstream_failed", "The AI provider's content filter stopped the reply.")
    return EngineError("upstream_failed", f"The AI provider left the reply incomplete ({reason or 'no reason given'}).")


def _outputs(calls: Sequence[ToolCall], outputs: dict[str, str]) -> list[dict[str, str]]:
    return [
        {"type": "function_call_output", "call_id": c.call_id, "output": outputs.get(c.call_id, NOT_RUN)} for c in calls
    ]


class ResponsesEngine(Engine):
    """The Responses API; the conversation's context kept one of three ways (see the module)."""

    name = "responses"

    def __init__(
        self, client: openai.AsyncOpenAI, profile: AssistantProfile, *, probes: ContextProbes | None = None
    ) -> None:
        self._client = client
        self._endpoint = StreamEndpoint.for_client(client)  # the streamed responses, without the SDK
        self._profile = profile
        self._probes = probes or ContextProbes()

    @property
    def client(self) -> openai.AsyncOpenAI:
        return self._client

    @property
    def endpoint(self) -> StreamEndpoint:
        return self._endpoint

    @property
    def base_url(self) -> str:
        return str(self._client.base_url).rstrip("/")

    # -- the context mode --------------------------------------------------------------------------

    def known_mode(self) -> ContextMode | None:
        """The mode in use, if known without asking the provider."""
        if self._profile.context != "auto":
            return self._profile.context
        found = self._probes.known(self._client)
        return found.mode if found is not None else None

    def history_window(self) -> int:
        return 0 if self.known_mode() == "conversations" else max(0, self._profile.history_window)

    async def context_mode(self, model: str | None = None) -> ContextMode:
        """The configured mode, or (``auto``) what the provider offers, asked once per base URL."""
        if self._profile.context != "auto":
            return self._profile.context
        return (await self._probes.get(self._client, model or self._profile.model)).mode

    async def check_provider(self) -> str:
        setting = self._profile.context
        found = await self._probes.get(self._client, self._profile.model, stores=setting == "previous_response")
        if setting == "auto":
            return f"context: {found.mode}, found out ({found.describe()})"
        problem = found.problem(setting)
        if problem is not None:
            raise EngineError("upstream_not_found", problem)
        return f"context: {setting}, as configured ({found.describe()})"

    # -- conversations -----------------------------------------------------------------------------

    async def create_conversation(self) -> str | None:
        if await self.context_mode() != "conversations":
            return None  # the chain or our history is the context: nothing to create
        return await self._create_conversation()

    async def _create_conversation(self) -> str:
        try:
            conversation = await self._client.conversations.create()
        except openai.NotFoundError as exc:
            raise EngineError("upstream_not_found", no_conversations_api(self.base_url)) from exc
        except Exception as exc:
            raise from_provider_exception(exc) from exc
        return conversation.id

    async def delete_conversation(self, conversation_id: str | None) -> None:
        if not is_conversation_id(conversation_id):
            return  # nothing kept, or a chain of responses the provider expires by itself
        try:
            await self._client.conversations.delete(conversation_id)  # type: ignore[arg-type]
        except openai.NotFoundError:
            return
        except Exception as exc:
            raise from_provider_exception(exc) from exc

    # -- one turn ----------------------------------------------------------------------------------

    def stream_turn(self, turn: Turn) -> AsyncGenerator[EngineEvent, None]:
        return run_rounds(_ResponsesRounds(self, self._profile, turn))

    async def _settle(self, conversation_id: str, items: list[dict[str, str]]) -> None:
        """Answer calls left open, so the conversation accepts the next message. Best effort."""
        with anyio.CancelScope(shield=True, deadline=anyio.current_time() + _SETTLE_TIMEOUT):
            try:
                for start in range(0, len(items), _ITEMS_PER_REQUEST):
                    chunk = items[start : start + _ITEMS_PER_REQUEST]
                    await self._client.conversations.items.create(conversation_id, items=chunk)  # type: ignore
            except Exception as exc:
                logger.warning("could not answer open tool calls in %s: %s", conversation_id, exc)


class _ResponsesRounds(ToolRounds[_Round]):
    """One turn's responses in the context mode of the engine (see the module)."""

    def __init__(self, engine: ResponsesEngine, profile: AssistantProfile, turn: Turn) -> None:
        super().__init__(turn, profile.max_tool_rounds)
        self._engine = engine
        self._profile = profile
        self._tools = turn.tools.responses_schemas()
        self._mode: ContextMode = "history"
        self._conversation_id: str | None = None
        self._chain: Chain | None = None
        # the turn as a provider that keeps nothing needs it: history, the message, calls, outputs
        self._transcript: list[dict[str, Any]] = []
        self._items: list[dict[str, Any]] = []  # the next request's input
        self._unchained = False  # the provider did not know a response of the chain: resend for this turn
        # calls the provider has asked for but has not received outputs of yet: if the turn ends
        # while there are some, the conversation would refuse every later message
        self._pending: Sequence[ToolCall] = ()
        self._outputs: dict[str, str] = {}
        self._replay: list[dict[str, Any]] = []  # the last round's output as input items

    async def begin(self) -> Sequence[EngineEvent]:
        turn = self.turn
        self._mode = mode = await self._engine.context_mode(turn.model)
        events: tuple[EngineEvent, ...] = ()
        self._transcript = self._items = _from_history(turn) if mode != "conversations" else []
        if mode == "conversations":
            self._conversation_id = turn.conversation_id if is_conversation_id(turn.conversation_id) else None
            if self._conversation_id is None:  # the thread's context was kept another way until now
                self._conversation_id = await self._engine._create_conversation()
                events = (ContextSaved(self._conversation_id),)
            self._items = [_user(turn.user_text)]
        elif mode == "previous_response" and (chain := Chain.load(turn.conversation_id)) is not None:
            self._chain = chain
            self._items = [*chain.outputs, _user(turn.user_text)]
        return events

    async def open(self, last: bool) -> tuple[RoundStream, _Round]:
        previous = self._chain.response_id if self._chain is not None and not self._unchained else None
        try:
            stream = await self._request(self._conversation_id, previous, last=last)
        except EngineError as exc:
            if previous is None or not unknown_previous_response(exc):
                raise
            self._log_lost_chain(previous)
            self._unchained, self._items = True, self._transcript
            stream = await self._request(None, None, last=last)
        self._pending = ()
        return stream, _Round()

    def finish(self, state: _Round) -> RoundEnd:
        if not state.completed:
            raise stream_ended_early()
        events: tuple[EngineEvent, ...] = ()
        if self._mode == "previous_response":
            self._chain = self._chain_from(state)
            events = (ContextSaved(self._chain.dump()),)
        self._pending, self._outputs, self._replay = state.calls, {}, state.replay
        return RoundEnd(state.calls, events)

    def answered(self, calls: Sequence[ToolCall], outcomes: Sequence[ToolOutcome]) -> Sequence[EngineEvent]:
        for call, outcome in zip(calls, outcomes, strict=True):
            self._outputs[call.call_id] = outcome.output
        answers = _outputs(calls, self._outputs)
        events: tuple[EngineEvent, ...] = ()
        if self._chain is not None:
            self._chain = Chain(self._chain.response_id, tuple(answers))
            events = (ContextSaved(self._chain.dump()),)
        if self._mode != "conversations":
            self._transcript = [*self._transcript, *self._replay, *answers]
        # the provider keeps the turn so far, or it goes out again (nothing is kept, or this turn's
        # chain is not)
        chained = self._mode == "conversations" or (self._chain is not None and not self._unchained)
        self._items = list(answers) if chained else self._transcript
        return events

    async def end(self, interrupted: bool) -> None:
        if self._pending and self._conversation_id:
            await self._engine._settle(self._conversation_id, _outputs(self._pending, self._outputs))

    def _chain_from(self, state: _Round) -> Chain:
        """The chain after a completed response: its outputs for its calls are not known yet."""
        if not state.response_id:
            raise EngineError(
                "upstream_failed",
                f"The AI provider at {self._engine.base_url} sent a response without an id, so it cannot be chained: "
                'set context = "history" for this tenant.',
            )
        return Chain(state.response_id, tuple(_outputs(state.calls, {})))

    def _log_lost_chain(self, previous: str) -> None:
        turn = self.turn
        logger.warning(
            "the AI provider at %s does not know response %s (expired, lost in a restart, or never stored): "
            'this turn sends the stored history instead; if this repeats, set context = "history" for tenant %s',
            self._engine.base_url,
            previous,
            turn.tool_context.tenant,
            extra={"tenant": turn.tool_context.tenant, "thread_id": turn.tool_context.thread_id},
        )

    async def _request(self, conversation_id: str | None, previous: str | None, *, last: bool) -> RoundStream:
        profile, mode = self._profile, self._mode
        params: dict[str, Any] = {"model": self.turn.model or profile.model, "input": self._items, "stream": True}
        if profile.instructions:
            params["instructions"] = profile.instructions
        if conversation_id:
            params["conversation"] = conversation_id
            # the conversation grows without end: past the model's context window the oldest items
            # are left out rather than the turn failing (history_window bounds the other modes)
            params["truncation"] = "auto"
        elif mode == "previous_response":
            params["store"] = True
            if previous:
                params["previous_response_id"] = previous
        elif mode == "history":
            params["store"] = False  # our transcript is the only copy needed
        shared_options(params, self._tools, profile, last=last)
        return await self._engine.endpoint.open("/responses", params, self.turn.pace)
