"""An in-process engine that obeys the simulator's ``[[...]]`` directives.

Stands in for "real engine + simulator" so that the browser tests drive the real proxy (routes,
Postgres, turn runner, SSE, cancel) with deterministic replies:

- ``[[reply:TEXT]]`` answers TEXT, word by word; without it the reply is ``You said: <text>``;
- ``[[pace:ttft=MS,gap=MS,tokens=N]]`` waits MS before the first token and between tokens, and
  pads the reply with filler words up to N tokens;
- ``[[tool:NAME {json}]]`` reports a tool call (``capture_lead`` also emits ``lead.captured``,
  ``request_handoff`` emits ``handoff``) and takes ``ttft`` to run;
- ``[[fault:stall]]`` streams a few words and then nothing until cancelled; ``[[fault:failed]]``
  streams a few words and fails (retryable). ``queue_fault()`` makes the next turn fail once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio

from proxy.engines.base import (
    AssistantProfile,
    Engine,
    EngineError,
    EngineEvent,
    MessageCompleted,
    TextDelta,
    ToolFinished,
    ToolStarted,
    Turn,
    TurnFinished,
    Usage,
)
from proxy.simulator.directives import parse_directives

FILLER = "and the rest of this reply is filler so that the stream lasts a while".split()


def split_words(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


class DirectiveEngine(Engine):
    name = "directive"

    def __init__(self, profile: AssistantProfile | None = None) -> None:
        self.profile = profile
        self.turns: list[str] = []
        self.cancelled: list[str] = []
        self.faults: list[str] = []
        self._count = 0

    def queue_fault(self, kind: str) -> None:
        self.faults.append(kind)

    async def create_conversation(self) -> str | None:
        self._count += 1
        return f"conv_{self._count}"

    async def delete_conversation(self, conversation_id: str | None) -> None:
        return None

    async def stream_turn(self, turn: Turn) -> AsyncIterator[EngineEvent]:
        self.turns.append(turn.user_text)
        d = parse_directives(turn.user_text)
        ttft = (d.pace.ttft_ms or 0) / 1000
        gap = (d.pace.gap_ms or 0) / 1000
        fault = self.faults.pop(0) if self.faults else d.fault
        message_id = f"m{len(self.turns)}"
        try:
            for i, call in enumerate(d.calls):
                call_id = f"call_{i}"
                yield ToolStarted(call_id, call.name)
                await anyio.sleep(ttft)
                args: dict[str, Any] = json.loads(call.arguments or "{}")
                if call.name == "capture_lead":
                    turn.tool_context.emit("lead.captured", {"lead_id": "lead_1", "email": args.get("email")})
                elif call.name == "request_handoff":
                    turn.tool_context.emit("handoff", {"reason": args.get("reason", "")})
                yield ToolFinished(call_id, call.name, True)
            text = d.reply if d.reply is not None else f"You said: {d.text}"
            words = split_words(text)
            if d.pace.tokens and len(words) < d.pace.tokens:
                padding = [FILLER[i % len(FILLER)] for i in range(d.pace.tokens - len(words))]
                words = split_words(text + " " + " ".join(padding))
            await anyio.sleep(ttft)
            for i, word in enumerate(words):
                if fault in ("stall", "failed") and i == 3:
                    if fault == "failed":
                        raise EngineError("upstream_failed", "The provider failed.", retryable=True)
                    await anyio.sleep_forever()
                if i:
                    await anyio.sleep(gap)
                yield TextDelta(message_id, word)
            yield MessageCompleted(message_id, "".join(words))
            yield TurnFinished(Usage(len(turn.user_text.split()), len(words)))
        except anyio.get_cancelled_exc_class():
            self.cancelled.append(turn.tool_context.run_id or "")
            raise


class DirectiveEngines(dict[str, DirectiveEngine]):
    """``engine_factory`` for ``create_app``: one engine per tenant, kept for assertions."""

    def factory(self, tenant: Any, http_client: Any, settings: Any) -> DirectiveEngine:
        engine = DirectiveEngine(tenant.config.profile())
        self[tenant.name] = engine
        return engine
