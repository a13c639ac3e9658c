"""Chat Completions against any OpenAI-compatible server (vLLM, Ollama, LiteLLM, Azure, OpenAI).

The provider keeps no state: every request carries the instructions, the turn's history (the last
``profile.history_window`` messages of our transcript, cut so by the turn runner) and the new user
message. Function calls are accumulated from streamed fragments and answered with ``role: tool``
messages, up to ``profile.max_tool_rounds`` rounds (the loop: :mod:`proxy.engines.rounds`).

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

import msgspec
import openai

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
from proxy.engines.errors import error_payload, malformed_event, stream_ended_early
from proxy.engines.provider_http import StreamEndpoint
from proxy.engines.rounds import RoundEnd, ToolRounds, run_rounds, shared_options
from proxy.engines.streams import RoundStream
from proxy.engines.toolcalls import ToolCall
from proxy.tools.registry import ToolOutcome

Message = dict[str, Any]


# A chunk decoded into what the engine reads of it, the rest skipped: about a third less CPU than
# a dict of everything, and no object the garbage collector tracks (``gc=False``: decoded data
# holds no cycles), where a dict decode made four per token.
class _Delta(msgspec.Struct, gc=False):
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class _Choice(msgspec.Struct, gc=False):
    delta: _Delta | None = None
    finish_reason: str | None = None


class _Chunk(msgspec.Struct, gc=False):
    id: str | None = None
    choices: list[_Choice] | None = None
    usage: dict[str, Any] | None = None
    error: Any = None


_decode_chunk = msgspec.json.Decoder(_Chunk).decode


def _chunk(payload: bytes) -> _Chunk:
    """One ``chat.completion.chunk``; an ``{"error": ...}`` payload raised."""
    try:
        chunk = _decode_chunk(payload)
    except msgspec.DecodeError as exc:  # (a ValidationError too: a value of a type no chunk has)
        raise malformed_event() from exc
    if chunk.error:
        raise error_payload(chunk.error)
    return chunk


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

    def on_event(self, chunk: _Chunk) -> TextDelta | None:
        """One ``chat.completion.chunk`` (no SDK model per chunk: :class:`_Chunk`)."""
        usage = chunk.usage
        if usage:
            self.usage = Usage(usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0)
        choices = chunk.choices
        if not choices:
            return None
        choice = choices[0]
        if choice.finish_reason:
            self.finish_reason = choice.finish_reason
        delta = choice.delta
        if delta is None:
            return None
        if delta.tool_calls:
            self._add_call_fragments(delta.tool_calls)
        text = delta.content or delta.refusal
        if not text:
            return None
        if not self.message_id:
            self.message_id = self._new_message_id(chunk.id)
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


class _ChatRounds(ToolRounds[_Round]):
    """One turn's completions: the messages grow by the assistant's calls and the tools' outputs."""

    def __init__(self, endpoint: StreamEndpoint, profile: AssistantProfile, turn: Turn) -> None:
        super().__init__(turn, profile.max_tool_rounds)
        self._endpoint = endpoint
        self._profile = profile
        self._tools = turn.tools.function_schemas()
        self._messages = _messages(profile, turn)
        self._taken_ids: set[str] = set()  # message ids used in this turn
        self._text = ""  # the last round's text, for the assistant message that carries its calls

    async def open(self, last: bool) -> tuple[RoundStream, _Round]:
        profile = self._profile
        params: dict[str, Any] = {
            "model": self.turn.model or profile.model,
            "messages": self._messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        shared_options(params, self._tools, profile, last=last)
        stream = await self._endpoint.open("/chat/completions", params, self.turn.pace, _chunk)
        return stream, _Round(self._taken_ids)

    def finish(self, state: _Round) -> RoundEnd:
        reason = state.finish_reason
        if reason is None:
            raise stream_ended_early()
        if reason == "content_filter":
            raise EngineError("upstream_failed", "The AI provider's content filter stopped the reply.")
        self._text = text = "".join(state.text)
        completed = (MessageCompleted(state.message_id, text),) if text else ()
        if reason == "length":
            cut = EngineError("upstream_failed", "The reply was cut short: the model reached its length limit.")
            return RoundEnd(events=completed, error=cut)
        # some servers report "stop" even with calls, so the calls decide
        return RoundEnd(state.tool_calls(), completed)

    def answered(self, calls: Sequence[ToolCall], outcomes: Sequence[ToolOutcome]) -> Sequence[EngineEvent]:
        self._messages.append(_assistant_message(self._text, calls))
        for call, outcome in zip(calls, outcomes, strict=True):
            self._messages.append({"role": "tool", "tool_call_id": call.call_id, "content": outcome.output})
        return ()


def _messages(profile: AssistantProfile, turn: Turn) -> list[Message]:
    """The instructions, the turn's history (already cut to the window) and the new message."""
    messages: list[Message] = []
    if profile.instructions:
        messages.append({"role": "system", "content": profile.instructions})
    messages.extend({"role": m.role, "content": m.content} for m in turn.history)
    messages.append({"role": "user", "content": turn.user_text})
    return messages


class ChatEngine(Engine):
    """Chat Completions; the transcript in our store is the only history."""

    name = "chat"

    def __init__(self, client: openai.AsyncOpenAI, profile: AssistantProfile) -> None:
        self._endpoint = StreamEndpoint.for_client(client)  # the completions, without the SDK
        self._profile = profile

    def history_window(self) -> int:
        return max(0, self._profile.history_window)

    async def create_conversation(self) -> None:
        return None

    async def delete_conversation(self, conversation_id: str | None) -> None:
        return None

    def stream_turn(self, turn: Turn) -> AsyncGenerator[EngineEvent, None]:
        return run_rounds(_ChatRounds(self._endpoint, self._profile, turn))
