"""The offline model as an in-process engine: a tenant's fallback when its provider cannot answer.

It runs the same deterministic model the simulator serves (:mod:`proxy.offline`) directly, with the
tenant's tools and the same tool loop as the provider engines, so a visitor still gets answers from
the shop's data while the provider is down or the day's budget is spent. It keeps no provider-side
state: the turn's history comes from our own store, as for the chat engine.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Sequence
from datetime import UTC, datetime

from proxy.engines.base import AssistantProfile, Engine, EngineEvent, MessageCompleted, TextDelta, Turn, Usage
from proxy.engines.rounds import RoundEnd, ToolRounds, run_rounds
from proxy.engines.toolcalls import ToolCall
from proxy.offline import Answer, Message, ToolSpec, respond, split_tokens
from proxy.tools.registry import ToolOutcome

__all__ = ("OFFLINE_MODEL", "OfflineEngine")

OFFLINE_MODEL = "offline"
"""The model name the offline engine's turns are counted under."""


class _Answer:
    """One answer of the offline model, read as a round's stream: its text word by word, or its calls.

    It is both the stream ``run_rounds`` reads and the state that folds it (nothing to parse).
    """

    __slots__ = ("_tokens", "answer", "message_id", "usage")

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.message_id = f"msg_{uuid.uuid4().hex}"
        self.usage = Usage()  # the offline model costs no tokens
        self._tokens = iter(() if answer.tool_calls else split_tokens(answer.text))

    def __aiter__(self) -> _Answer:
        return self

    async def __anext__(self) -> str:
        for token in self._tokens:
            return token
        raise StopAsyncIteration

    async def close(self) -> None:
        return None

    def on_event(self, token: str) -> TextDelta:
        return TextDelta(self.message_id, token)


class _OfflineRounds(ToolRounds[_Answer]):
    """One turn of the offline model: the transcript grows by its calls and the tools' outputs."""

    def __init__(self, profile: AssistantProfile, turn: Turn) -> None:
        super().__init__(turn, profile.max_tool_rounds)
        self._instructions = profile.instructions
        self._tools = [ToolSpec(tool.name, tool.description, tool.parameters) for tool in turn.tools]
        self._messages = [*(Message(m.role, m.content) for m in turn.history), Message("user", turn.user_text)]
        self._now = datetime.now(UTC)

    async def open(self, last: bool) -> tuple[_Answer, _Answer]:
        answer = _Answer(
            respond(self._messages, () if last else self._tools, instructions=self._instructions, now=self._now)
        )
        return answer, answer

    def finish(self, state: _Answer) -> RoundEnd:
        answer = state.answer
        if not answer.tool_calls:
            return RoundEnd(events=(MessageCompleted(state.message_id, answer.text),))
        calls = [ToolCall(f"call_{uuid.uuid4().hex[:24]}", name, arguments) for name, arguments in answer.tool_calls]
        return RoundEnd(calls)

    def answered(self, calls: Sequence[ToolCall], outcomes: Sequence[ToolOutcome]) -> Sequence[EngineEvent]:
        self._messages.extend(Message("assistant", call.arguments, name=call.name) for call in calls)
        self._messages.extend(Message("tool", o.output, name=c.name) for c, o in zip(calls, outcomes, strict=True))
        return ()


class OfflineEngine(Engine):
    """Answers from the tenant's tools without a provider; costs no tokens."""

    name = "offline"

    def __init__(self, profile: AssistantProfile) -> None:
        self._profile = profile

    def history_window(self) -> int:
        return self._profile.history_window

    async def create_conversation(self) -> None:
        return None

    async def delete_conversation(self, conversation_id: str | None) -> None:
        return None

    def stream_turn(self, turn: Turn) -> AsyncGenerator[EngineEvent, None]:
        return run_rounds(_OfflineRounds(self._profile, turn))
