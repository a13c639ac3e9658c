"""Chat Completions against any OpenAI-compatible server (vLLM, Ollama, LiteLLM, Azure, OpenAI).

The provider keeps no state: every request carries the instructions, the last
``profile.history_window`` messages of our transcript and the new user message. Function calls
are accumulated from streamed fragments and answered with ``role: tool`` messages, up to
``profile.max_tool_rounds`` rounds.

How a reply ends:

* ``stop`` (or ``tool_calls``): the normal case.
* ``length``: the text written so far is kept (``MessageCompleted``), then the turn fails with
  ``upstream_failed`` so the visitor learns the answer is cut short; tool calls cut by the limit
  are not run (their arguments are incomplete). The Responses engine behaves the same way.
* ``content_filter``: the partial text is not completed; ``upstream_failed``.
* no finish reason before the stream ends: ``upstream_stream_cut``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import openai
from openai import AsyncStream

from proxy.engines.base import (
    AssistantProfile,
    Engine,
    EngineError,
    EngineEvent,
    HistoryMessage,
    MessageCompleted,
    TextDelta,
    Turn,
    TurnFinished,
    Usage,
)
from proxy.engines.errors import stream_ended_early, tool_rounds_exceeded
from proxy.engines.streams import open_stream, reading
from proxy.engines.toolcalls import ToolCall, dispatch_all

Message = dict[str, Any]


class _CallParts:
    __slots__ = ("arguments", "call_id", "name")

    def __init__(self, call_id: str | None) -> None:
        self.call_id = call_id
        self.name = ""
        self.arguments: list[str] = []


class _Round:
    """Folds the chunks of one streamed completion: text, tool-call fragments, usage, finish."""

    __slots__ = ("_by_index", "_taken_ids", "calls", "finish_reason", "message_id", "text", "usage")

    def __init__(self, taken_ids: set[str]) -> None:
        self._taken_ids = taken_ids  # message ids already used in this turn
        self._by_index: dict[int, _CallParts] = {}
        self.calls: list[_CallParts] = []
        self.text: list[str] = []
        self.message_id = ""
        self.finish_reason: str | None = None
        self.usage = Usage()

    def on_chunk(self, chunk: dict[str, Any]) -> TextDelta | None:
        """One ``chat.completion.chunk`` as the JSON object it came as (no SDK model per chunk)."""
        usage = chunk.get("usage")
        if usage:
            self.usage = Usage(usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0)
        choices = chunk.get("choices")
        if not choices:
            return None
        choice = choices[0]
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]
        delta = choice.get("delta")
        if not delta:
            return None
        if delta.get("tool_calls"):
            self._add_call_fragments(delta["tool_calls"])
        text = delta.get("content") or delta.get("refusal")
        if not text:
            return None
        if not self.message_id:
            self.message_id = self._new_message_id(chunk.get("id"))
        self.text.append(text)
        return TextDelta(self.message_id, text)

    def _new_message_id(self, chunk_id: str | None) -> str:
        message_id = chunk_id if chunk_id and chunk_id not in self._taken_ids else f"msg_{uuid.uuid4().hex}"
        self._taken_ids.add(message_id)
        return message_id

    def _add_call_fragments(self, fragments: Sequence[dict[str, Any]]) -> None:
        for fragment in fragments:
            index = fragment.get("index")
            if index is None:
                index = len(self.calls)
            call_id = fragment.get("id")
            parts = self._by_index.get(index)
            # a new id at a known index: a server that numbers every call 0
            if parts is None or (call_id and parts.call_id and call_id != parts.call_id):
                parts = self._by_index[index] = _CallParts(call_id)
                self.calls.append(parts)
            elif call_id and not parts.call_id:
                parts.call_id = call_id
            function = fragment.get("function")
            if function:
                if function.get("name"):
                    parts.name = function["name"]
                if function.get("arguments"):
                    parts.arguments.append(function["arguments"])

    def tool_calls(self) -> list[ToolCall]:
        return [
            ToolCall(p.call_id or f"call_{uuid.uuid4().hex[:24]}", p.name, "".join(p.arguments)) for p in self.calls
        ]


def _assistant_message(text: str, calls: Sequence[ToolCall]) -> Message:
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
        ],
    }


def _history(history: Sequence[HistoryMessage], window: int) -> list[Message]:
    if window <= 0:
        return []
    return [{"role": m.role, "content": m.content} for m in history[-window:]]


class ChatEngine(Engine):
    """Chat Completions; the transcript in our store is the only history."""

    name = "chat"

    def __init__(self, client: openai.AsyncOpenAI, profile: AssistantProfile) -> None:
        self._client = client
        self._profile = profile

    def history_window(self) -> int:
        return max(0, self._profile.history_window)

    async def create_conversation(self) -> None:
        return None

    async def delete_conversation(self, conversation_id: str | None) -> None:
        return None

    def _messages(self, turn: Turn) -> list[Message]:
        messages: list[Message] = []
        if self._profile.instructions:
            messages.append({"role": "system", "content": self._profile.instructions})
        messages.extend(_history(turn.history, self._profile.history_window))
        messages.append({"role": "user", "content": turn.user_text})
        return messages

    async def stream_turn(self, turn: Turn) -> AsyncGenerator[EngineEvent, None]:
        max_rounds = max(0, self._profile.max_tool_rounds)
        tools = turn.tools.function_schemas()
        messages = self._messages(turn)
        taken_ids: set[str] = set()
        usage = Usage()
        # one generator for the whole turn, so closing it reaches the open HTTP stream directly
        for round_no in range(max_rounds + 1):
            stream = await self._open(messages, tools, last=round_no == max_rounds, model=turn.model)
            state = _Round(taken_ids)
            async with reading(stream) as chunks:
                async for chunk in chunks:
                    delta = state.on_chunk(chunk)
                    if delta is not None:
                        yield delta
            usage += state.usage
            reason = state.finish_reason
            if reason is None:
                raise stream_ended_early()
            if reason == "content_filter":
                raise EngineError("upstream_failed", "The AI provider's content filter stopped the reply.")
            text = "".join(state.text)
            if text:
                yield MessageCompleted(state.message_id, text)
            if reason == "length":
                raise EngineError("upstream_failed", "The reply was cut short: the model reached its length limit.")
            calls = state.tool_calls()
            if not calls:  # some servers report "stop" even with calls, so the calls decide
                yield TurnFinished(usage)
                return
            if round_no == max_rounds:
                raise tool_rounds_exceeded(max_rounds)
            for call in calls:
                yield call.started()
            outcomes = await dispatch_all(calls, turn.tools, turn.tool_context)
            messages.append(_assistant_message(text, calls))
            for call, outcome in zip(calls, outcomes, strict=True):
                messages.append({"role": "tool", "tool_call_id": call.call_id, "content": outcome.output})
                yield call.finished(outcome)

    async def _open(
        self, messages: list[Message], tools: list[dict[str, Any]], *, last: bool, model: str | None = None
    ) -> AsyncStream[Any]:
        profile = self._profile
        params: dict[str, Any] = {
            "model": model or profile.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            params["tools"] = tools
            if last:
                params["tool_choice"] = "none"
        if profile.temperature is not None:
            params["temperature"] = profile.temperature
        return await open_stream(self._client, "/chat/completions", params)
