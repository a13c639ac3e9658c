"""The ``showcase`` tenant's engine: canned answers, so the demo screenshot reads naturally.

Everything else in the browser tests goes through the real engines and the simulator; this one
only exists because the simulator's replies are steered by ``[[...]]`` directives, which would
show in the visitor's bubbles of a README picture.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from proxy.engines.base import Engine, EngineEvent, MessageCompleted, TextDelta, Turn, TurnFinished, Usage


class ScriptedEngine(Engine):
    name = "scripted"

    def __init__(self) -> None:
        self.replies: dict[str, str] = {}
        self._count = 0

    async def create_conversation(self) -> str | None:
        self._count += 1
        return f"conv_{self._count}"

    async def delete_conversation(self, conversation_id: str | None) -> None:
        return None

    async def stream_turn(self, turn: Turn) -> AsyncGenerator[EngineEvent, None]:
        text = self.replies.get(turn.user_text, f"You asked: {turn.user_text}")
        message_id = f"m{self._count}_{len(turn.user_text)}"
        words = text.split(" ")
        for i, word in enumerate(words):
            yield TextDelta(message_id, word if i == len(words) - 1 else word + " ")
        yield MessageCompleted(message_id, text)
        yield TurnFinished(Usage(len(turn.user_text.split()), len(words)))
