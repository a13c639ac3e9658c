"""OpenAI's Responses API, with the Conversations API keeping the history.

The assistant lives in our config: model, instructions and tools go out with every request
(instructions do not persist in a conversation). One turn is one or more streamed responses: when
a response ends with function calls, the calls run and their outputs open the next response, up
to ``profile.max_tool_rounds`` rounds.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import openai
from openai import AsyncStream
from openai.types.responses import Response, ResponseOutputItem, ResponseOutputMessage, ResponseStreamEvent

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
from proxy.engines.errors import failed_run, from_provider_exception, from_stream_exception
from proxy.engines.toolcalls import ToolCall, dispatch_all

logger = logging.getLogger(__name__)

NOT_RUN = "Error: this tool call was not run because the reply ended early."
_SETTLE_TIMEOUT = 5.0  # seconds for the best-effort clean-up of unanswered calls
_ITEMS_PER_REQUEST = 20  # the Conversations API's limit for items.create


class _Round:
    """Folds the events of one streamed response into neutral events.

    Remembers the function calls, the usage and whether the response reached ``response.completed``.
    Failures the provider reports inside the stream are raised as ``EngineError``.
    """

    __slots__ = ("calls", "completed", "usage")

    def __init__(self) -> None:
        self.calls: list[ToolCall] = []
        self.completed = False
        self.usage = Usage()

    def on_event(self, event: ResponseStreamEvent) -> EngineEvent | None:
        if event.type == "response.output_text.delta" or event.type == "response.refusal.delta":
            return TextDelta(event.item_id, event.delta)
        if event.type == "response.output_item.done":
            return self._item_done(event.item)
        if event.type == "response.completed":
            self._completed(event.response)
        elif event.type == "response.failed":
            error = event.response.error
            raise failed_run(error.code if error else None, error.message if error else None)
        elif event.type == "response.incomplete":
            raise _incomplete(event.response)
        elif event.type == "error":
            raise failed_run(event.code, event.message)
        return None

    def _item_done(self, item: ResponseOutputItem) -> MessageCompleted | None:
        if item.type == "message":
            return MessageCompleted(item.id, _message_text(item))
        if item.type == "function_call":
            self.calls.append(ToolCall(item.call_id, item.name, item.arguments or ""))
        return None

    def _completed(self, response: Response) -> None:
        self.completed = True
        if response.usage is not None:
            self.usage = Usage(response.usage.input_tokens or 0, response.usage.output_tokens or 0)
        if not self.calls:  # servers that skip output_item.done still list the calls here
            self.calls = [
                ToolCall(item.call_id, item.name, item.arguments or "")
                for item in response.output or ()
                if item.type == "function_call"
            ]


def _message_text(item: ResponseOutputMessage) -> str:
    return "".join((p.text if p.type == "output_text" else p.refusal) or "" for p in item.content or ())


def _incomplete(response: Response) -> EngineError:
    details = response.incomplete_details
    reason = details.reason if details is not None else None
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

    async def stream_turn(self, turn: Turn) -> AsyncIterator[EngineEvent]:
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
                try:
                    async for event in stream:
                        out = state.on_event(event)
                        if out is not None:
                            yield out
                except EngineError:
                    raise
                except Exception as exc:
                    raise from_stream_exception(exc) from exc
                finally:
                    with anyio.CancelScope(shield=True):
                        await stream.close()
                if not state.completed:
                    raise EngineError("upstream_stream_cut", "The AI provider's stream ended early.", retryable=True)
                usage += state.usage
                if not state.calls:
                    yield TurnFinished(usage)
                    return
                pending, outputs = state.calls, {}
                if round_no == max_rounds:
                    raise EngineError(
                        "tool_rounds_exceeded", f"The assistant kept calling tools after {max_rounds} rounds."
                    )
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
    ) -> AsyncStream[ResponseStreamEvent]:
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
        try:
            return await self._client.responses.create(**params)
        except Exception as exc:
            raise from_provider_exception(exc) from exc

    async def _settle(self, conversation_id: str, items: list[dict[str, str]]) -> None:
        """Answer calls left open, so the conversation accepts the next message. Best effort."""
        with anyio.CancelScope(shield=True, deadline=anyio.current_time() + _SETTLE_TIMEOUT):
            try:
                for start in range(0, len(items), _ITEMS_PER_REQUEST):
                    chunk = items[start : start + _ITEMS_PER_REQUEST]
                    await self._client.conversations.items.create(conversation_id, items=chunk)  # type: ignore
            except Exception as exc:
                logger.warning("could not answer open tool calls in %s: %s", conversation_id, exc)
