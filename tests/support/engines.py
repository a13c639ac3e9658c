"""What the engine tests share: the order-lookup tool, running a turn to its end, reading the reply."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from proxy.engines.base import Engine, EngineError, EngineEvent, MessageCompleted, TextDelta, Turn
from proxy.tools.registry import ToolContext

ORDER_SCHEMA = {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}
ORDER_OUTPUT = '{"order":"A1","status":"shipped"}'  # what lookup_order returns for order A1, as sent back


async def lookup_order(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    return {"order": args.get("order"), "status": "shipped"}


async def run_turn(engine: Engine, turn: Turn) -> tuple[list[EngineEvent], EngineError | None]:
    """Every event of one turn, and the ``EngineError`` that ended it, if one did."""
    events: list[EngineEvent] = []
    try:
        async for event in engine.stream_turn(turn):
            events.append(event)
    except EngineError as exc:
        return events, exc
    return events, None


def reply_text(events: Sequence[Any]) -> str:
    """The one completed message's text, checked against the deltas that streamed it."""
    [message] = [e for e in events if isinstance(e, MessageCompleted)]
    assert "".join(e.delta for e in events if isinstance(e, TextDelta)) == message.content
    return message.content
