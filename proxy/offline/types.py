"""What the offline model is given and what it answers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One offered function: its name, description and JSON schema (``parameters``)."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Message:
    """One transcript item.

    * ``user`` / ``system``: ``text`` is what was said;
    * ``assistant`` without ``name``: text the assistant wrote;
    * ``assistant`` with ``name``: a call of that tool, ``text`` its JSON arguments;
    * ``tool``: ``text`` is the output of tool ``name`` (outputs follow their calls in order).
    """

    role: Role
    text: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    """Either function calls (``tool_calls`` non-empty: ``(name, arguments_json)`` pairs) or ``text``."""

    text: str = ""
    tool_calls: tuple[tuple[str, str], ...] = ()


_STREAMED_WORD = re.compile(r"\s*\S+\s*")


def split_tokens(text: str) -> tuple[str, ...]:
    """The pieces a model streams: words with their following whitespace; joined they give ``text``."""
    return tuple(_STREAMED_WORD.findall(text))
