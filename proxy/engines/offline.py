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

from proxy.engines.base import (
    AssistantProfile,
    Engine,
    EngineEvent,
    HistoryMessage,
    MessageCompleted,
    TextDelta,
    Turn,
    TurnFinished,
    Usage,
)
from proxy.engines.errors import tool_rounds_exceeded
from proxy.engines.toolcalls import ToolCall, dispatch_all
from proxy.offline import Message, ToolSpec, respond, split_tokens

__all__ = ("OFFLINE_MODEL", "OfflineEngine")

OFFLINE_MODEL = "offline"
"""The model name the offline engine's turns are counted under."""


def _tool_specs(turn: Turn) -> list[ToolSpec]:
    return [ToolSpec(tool.name, tool.description, tool.parameters) for tool in turn.tools]


def _transcript(history: Sequence[HistoryMessage], user_text: str) -> list[Message]:
    return [*(Message(m.role, m.content) for m in history), Message("user", user_text)]


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

    async def stream_turn(self, turn: Turn) -> AsyncGenerator[EngineEvent, None]:
        tools = _tool_specs(turn)
        messages = _transcript(turn.history, turn.user_text)
        now = datetime.now(UTC)
        max_rounds = max(0, self._profile.max_tool_rounds)
        for round_no in range(max_rounds + 1):
            answer = respond(
                messages, tools if round_no < max_rounds else (), instructions=self._profile.instructions, now=now
            )
            if not answer.tool_calls:
                message_id = f"msg_{uuid.uuid4().hex}"
                for token in split_tokens(answer.text):
                    yield TextDelta(message_id, token)
                yield MessageCompleted(message_id, answer.text)
                yield TurnFinished(Usage())
                return
            if round_no == max_rounds:
                raise tool_rounds_exceeded(max_rounds)
            calls = [
                ToolCall(f"call_{uuid.uuid4().hex[:24]}", name, arguments) for name, arguments in answer.tool_calls
            ]
            for call in calls:
                yield call.started()
                messages.append(Message("assistant", call.arguments, name=call.name))
            outcomes = await dispatch_all(calls, turn.tools, turn.tool_context)
            for call, outcome in zip(calls, outcomes, strict=True):
                messages.append(Message("tool", outcome.output, name=call.name))
                yield call.finished(outcome)
        raise tool_rounds_exceeded(max_rounds)
