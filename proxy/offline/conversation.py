"""The transcript as turns: a user message, the calls the assistant made for it, their outputs, the reply."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from proxy.offline.types import Message


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Result:
    """One call and what it returned: ``data`` is the parsed JSON (``None`` when not JSON), ``error``
    the text of a failed call ("Error: ...")."""

    call: Call
    text: str
    data: Any = None
    error: str | None = None


@dataclass(slots=True)
class Turn:
    user: str = ""
    calls: list[Call] = field(default_factory=list)
    outputs: list[tuple[str, str]] = field(default_factory=list)
    reply: str = ""

    def results(self) -> list[Result]:
        """Outputs paired with their calls (by order within each tool name)."""
        pending: dict[str, list[Call]] = {}
        for call in self.calls:
            pending.setdefault(call.name, []).append(call)
        used: dict[str, int] = {}
        out = []
        for name, text in self.outputs:
            index = used.get(name, 0)
            used[name] = index + 1
            calls = pending.get(name, [])
            call = calls[index] if index < len(calls) else Call(name, {})
            out.append(parse_result(call, text))
        return out


def parse_result(call: Call, text: str) -> Result:
    stripped = text.strip()
    if stripped.startswith("Error:"):
        return Result(call, text, None, stripped.removeprefix("Error:").strip())
    try:
        data = json.loads(stripped)
    except ValueError:
        return Result(call, text, None)
    if isinstance(data, str) and data.startswith("Error:"):
        return Result(call, text, None, data.removeprefix("Error:").strip())
    return Result(call, text, data)


def _arguments(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def split_turns(messages: Sequence[Message]) -> list[Turn]:
    """One :class:`Turn` per user message (a leading turn without one when the transcript starts otherwise)."""
    turns: list[Turn] = []
    for message in messages:
        if message.role == "user":
            turns.append(Turn(user=message.text))
            continue
        if not turns:
            turns.append(Turn())
        turn = turns[-1]
        if message.role == "assistant" and message.name:
            turn.calls.append(Call(message.name, _arguments(message.text)))
        elif message.role == "tool":
            turn.outputs.append((message.name, message.text))
        elif message.role == "assistant" and message.text.strip():
            turn.reply = message.text
    return turns or [Turn()]
