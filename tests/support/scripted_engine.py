"""A provider-free engine for API and turn tests: its behaviour is read from the user's text.

- ``say:TEXT`` streams TEXT word by word;
- ``tool:NAME {json}`` calls one tool through the tenant's ToolSet, then says what it returned;
- ``wait`` streams one delta, then waits until cancelled (records the cancellation);
- ``fail:CODE`` raises an EngineError with that code after one delta;
- ``crash`` raises a plain exception (a bug);
- ``gate:KEY`` streams "before ", waits until the test opens ``engine.gates[KEY]`` (a thread-safe
  event: the server runs in another thread), then streams "after" and completes;
- ``hold:KEY`` is ``gate:KEY`` without the text before the gate (records itself in ``holding``);
- ``refuse:CODE`` raises an EngineError with that code before any text.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import AsyncGenerator
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
from proxy.engines.factory import profile_for
from proxy.tools.registry import ToolContext, ToolError, ToolRegistry


class ScriptedEngine(Engine):
    name = "scripted"

    def __init__(self, profile: AssistantProfile | None = None) -> None:
        self.profile = profile
        self.turns: list[Turn] = []
        self.cancelled: list[str] = []
        self.waiting = anyio.Event()
        self.gates: defaultdict[str, threading.Event] = defaultdict(threading.Event)
        self.holding: list[str] = []
        self._count = 0

    async def create_conversation(self) -> str | None:
        self._count += 1
        return f"conv_{self._count}"

    async def delete_conversation(self, conversation_id: str | None) -> None:
        return None

    async def stream_turn(self, turn: Turn) -> AsyncGenerator[EngineEvent, None]:
        self.turns.append(turn)
        text = turn.user_text
        message_id = f"msg_{len(self.turns)}"
        if text.startswith("tool:"):
            name, _, args = text[5:].partition(" ")
            yield ToolStarted("call_1", name)
            outcome = await turn.tools.dispatch(name, args or "{}", turn.tool_context)
            yield ToolFinished("call_1", name, outcome.ok)
            text = f"say:{name} said {outcome.output}"
        if text.startswith("say:"):
            words = text[4:].split(" ")
            parts = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
            for part in parts:
                yield TextDelta(message_id, part)
            yield MessageCompleted(message_id, "".join(parts))
            yield TurnFinished(Usage(len(turn.user_text.split()), len(parts)))
            return
        if text.startswith(("gate:", "hold:")):  # gate: text before the wait; hold: none, but noted
            gated, name = text.startswith("gate:"), text[5:]
            if gated:
                yield TextDelta(message_id, "before ")
            else:
                self.holding.append(name)
            try:
                await anyio.to_thread.run_sync(self.gates[name].wait, abandon_on_cancel=True)
            except anyio.get_cancelled_exc_class():
                self.cancelled.append(turn.tool_context.run_id or "")
                raise
            yield TextDelta(message_id, "after")
            yield MessageCompleted(message_id, "before after" if gated else "after")
            yield TurnFinished()
            return
        if text.startswith("refuse:"):
            raise EngineError(text[7:], f"scripted refusal {text[7:]}", retryable=False)  # type: ignore[arg-type]
        if text == "wait":
            yield TextDelta(message_id, "partial ")
            try:
                self.waiting.set()
                await anyio.sleep_forever()
            finally:
                self.cancelled.append(turn.tool_context.run_id or "")
        if text.startswith("fail:"):
            yield TextDelta(message_id, "partial ")
            raise EngineError(text[5:], f"scripted failure {text[5:]}", retryable=True)  # type: ignore[arg-type]
        if text == "crash":
            raise RuntimeError("a bug")
        yield TextDelta(message_id, json.dumps(text))
        yield MessageCompleted(message_id, json.dumps(text))
        yield TurnFinished()


def scripted_tools(registry: ToolRegistry | None = None) -> ToolRegistry:
    """``lookup``, a tool that echoes its word and who called, added to ``registry`` (or a new one)."""
    registry = registry if registry is not None else ToolRegistry()

    @registry.tool(
        name="lookup",
        description="Look a word up",
        parameters={"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
    )
    async def lookup(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("word") == "boom":
            raise ToolError("the dictionary is closed")
        return {"word": args.get("word"), "tenant": ctx.tenant, "visitor": ctx.visitor.kind}

    return registry


class Engines(dict[str, ScriptedEngine]):
    def factory(self, tenant: Any, http_client: Any, settings: Any) -> ScriptedEngine:
        engine = ScriptedEngine(profile_for(tenant.config))
        self[tenant.name] = engine
        return engine
