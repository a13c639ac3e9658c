"""OpenAI's Responses API, with the Conversations API keeping the history.

The assistant lives in our config: model, instructions and tools go out with every request
(instructions do not persist in a conversation). One turn is one or more streamed responses: when
a response ends with function calls, the calls run and their outputs open the next response, up
to ``profile.max_tool_rounds`` rounds.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import anyio
import openai
from openai import AsyncStream

from proxy.engines.base import (
    AssistantProfile,
    Engine,
    EngineError,
    EngineEvent,
    MessageCompleted,
    TextDelta,
    Turn,
    TurnFinished,
    Usage,
)
from proxy.engines.errors import failed_run, from_provider_exception, stream_ended_early, tool_rounds_exceeded
from proxy.engines.streams import open_stream, reading
from proxy.engines.toolcalls import ToolCall, dispatch_all

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

    __slots__ = ("calls", "completed", "message_id", "usage")

    def __init__(self) -> None:
        self.calls: list[ToolCall] = []
        self.completed = False
        self.message_id = ""  # the message item being written, for deltas that do not name theirs
        self.usage = Usage()

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
            return MessageCompleted(item.get("id") or self.message_id, _message_text(item))
        if kind == "function_call":
            self.calls.append(_tool_call(item))
        return None

    def _completed(self, response: dict[str, Any]) -> None:
        self.completed = True
        usage = response.get("usage")
        if usage:
            self.usage = Usage(usage.get("input_tokens") or 0, usage.get("output_tokens") or 0)
        if not self.calls:  # servers that skip output_item.done still list the calls here
            output = response.get("output") or ()
            self.calls = [_tool_call(item) for item in output if item.get("type") == "function_call"]


def _tool_call(item: dict[str, Any]) -> ToolCall:
    return ToolCall(item.get("call_id") or "", item.get("name") or "", item.get("arguments") or "")


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
    """Responses API + Conversations API; the provider keeps the conversation."""

    name = "responses"

    def __init__(self, client: openai.AsyncOpenAI, profile: AssistantProfile) -> None:
        self._client = client
        self._profile = profile

    async def create_conversation(self) -> str:
        try:
            conversation = await self._client.conversations.create()
        except Exception as exc:
            raise from_provider_exception(exc) from exc
        return conversation.id

    async def delete_conversation(self, conversation_id: str | None) -> None:
        if not conversation_id:
            return
        try:
            await self._client.conversations.delete(conversation_id)
        except openai.NotFoundError:
            return
        except Exception as exc:
            raise from_provider_exception(exc) from exc

    async def stream_turn(self, turn: Turn) -> AsyncGenerator[EngineEvent, None]:
        # One generator for the whole turn, on purpose: a nested generator per round would not be
        # closed when the consumer closes this one, leaving its HTTP stream open until collected.
        max_rounds = max(0, self._profile.max_tool_rounds)
        tools = turn.tools.responses_schemas()
        items: list[dict[str, str]] = [{"type": "message", "role": "user", "content": turn.user_text}]
        usage = Usage()
        # calls the provider has asked for but has not received outputs of yet: if the turn ends
        # while there are some, the conversation would refuse every later message
        pending: list[ToolCall] = []
        outputs: dict[str, str] = {}
        try:
            for round_no in range(max_rounds + 1):
                stream = await self._open(turn, items, tools, last=round_no == max_rounds)
                pending = []
                state = _Round()
                async with reading(stream) as events:
                    async for event in events:
                        out = state.on_event(event)
                        if out is not None:
                            yield out
                if not state.completed:
                    raise stream_ended_early()
                usage += state.usage
                if not state.calls:
                    yield TurnFinished(usage)
                    return
                pending, outputs = state.calls, {}
                if round_no == max_rounds:
                    raise tool_rounds_exceeded(max_rounds)
                for call in pending:
                    yield call.started()
                outcomes = await dispatch_all(pending, turn.tools, turn.tool_context)
                for call, outcome in zip(pending, outcomes, strict=True):
                    outputs[call.call_id] = outcome.output
                    yield call.finished(outcome)
                items = _outputs(pending, outputs)
        finally:
            if pending and turn.conversation_id:
                await self._settle(turn.conversation_id, _outputs(pending, outputs))

    async def _open(
        self, turn: Turn, items: list[dict[str, str]], tools: list[dict[str, Any]], *, last: bool
    ) -> AsyncStream[Any]:
        profile = self._profile
        params: dict[str, Any] = {"model": turn.model or profile.model, "input": items, "stream": True}
        if profile.instructions:
            params["instructions"] = profile.instructions
        if turn.conversation_id:
            params["conversation"] = turn.conversation_id
        if tools:
            params["tools"] = tools
            if last:
                params["tool_choice"] = "none"
        if profile.temperature is not None:
            params["temperature"] = profile.temperature
        return await open_stream(self._client, "/responses", params)

    async def _settle(self, conversation_id: str, items: list[dict[str, str]]) -> None:
        """Answer calls left open, so the conversation accepts the next message. Best effort."""
        with anyio.CancelScope(shield=True, deadline=anyio.current_time() + _SETTLE_TIMEOUT):
            try:
                for start in range(0, len(items), _ITEMS_PER_REQUEST):
                    chunk = items[start : start + _ITEMS_PER_REQUEST]
                    await self._client.conversations.items.create(conversation_id, items=chunk)  # type: ignore
            except Exception as exc:
                logger.warning("could not answer open tool calls in %s: %s", conversation_id, exc)
