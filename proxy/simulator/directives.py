"""The ``[[...]]`` directives a test or a demo visitor writes into a user message.

========================================  =====================================================
``[[tool:NAME {"json": "args"}]]``        call NAME with these arguments (several: parallel calls)
``[[tool-loop:NAME]]``                    call NAME again after every tool output, forever
``[[reply:exact text]]``                  answer exactly this text
``[[pace:ttft=MS,gap=MS,tokens=N]]``      pacing for this request (any subset of the keys)
``[[fault:KIND]]``                        fail this request, see :data:`~.faults.FAULT_KINDS`
``[[echo-instructions]]``                 the default reply quotes the instructions
========================================  =====================================================

Unknown or malformed directives are left in the text and otherwise ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache

from proxy.simulator.faults import FAULT_KINDS

__all__ = ("Directives", "PaceOverride", "RequestedCall", "parse_directives")

_DIRECTIVE = re.compile(
    r"""\[\[(?:
        tool:(?P<tool>[\w-]+)(?:\s*(?P<args>\{.*?\}))?\s*\]\]
      | tool-loop:(?P<loop>[\w-]+)\s*\]\]
      | reply:(?P<reply>.*?)\]\]
      | pace:(?P<pace>[^\]]*)\]\]
      | fault:(?P<fault>[\w-]+)\s*\]\]
      | (?P<echo>echo-instructions)\s*\]\]
    )""",
    re.VERBOSE | re.DOTALL,
)
_PACE_ITEM = re.compile(r"(ttft|gap|tokens)\s*=\s*(\d+)")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class RequestedCall:
    """A function call asked for by ``[[tool:...]]``; ``arguments`` is JSON text."""

    name: str
    arguments: str = "{}"


@dataclass(frozen=True, slots=True)
class PaceOverride:
    ttft_ms: int | None = None
    gap_ms: int | None = None
    tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Directives:
    text: str
    """The message without its directives, whitespace collapsed."""
    calls: tuple[RequestedCall, ...] = ()
    loop: str | None = None
    reply: str | None = None
    pace: PaceOverride = field(default_factory=PaceOverride)
    fault: str | None = None
    echo_instructions: bool = False
    found: bool = False
    """Whether the message held any directive (then the echo model answers it, as in tests)."""


def _arguments(raw: str | None) -> str:
    """Compact JSON when the text parses; otherwise the text as written (models send bad JSON too)."""
    if raw is None:
        return "{}"
    try:
        return json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return raw


def _pace(spec: str) -> PaceOverride:
    values = {key: int(number) for key, number in _PACE_ITEM.findall(spec)}
    return PaceOverride(values.get("ttft"), values.get("gap"), values.get("tokens"))


@lru_cache(maxsize=4096)
def parse_directives(message: str) -> Directives:
    """Split a user message into its directives and its plain text (cached: benchmarks repeat messages)."""
    if "[[" not in message:
        return Directives(text=_SPACES.sub(" ", message).strip())
    calls: list[RequestedCall] = []
    loop = reply = fault = None
    pace = PaceOverride()
    echo = found = False
    for match in _DIRECTIVE.finditer(message):
        found = True
        groups = match.groupdict()
        if groups["tool"] is not None:
            calls.append(RequestedCall(groups["tool"], _arguments(groups["args"])))
        elif groups["loop"] is not None:
            loop = groups["loop"]
        elif groups["reply"] is not None:
            reply = groups["reply"]
        elif groups["pace"] is not None:
            pace = _pace(groups["pace"])
        elif groups["fault"] is not None:
            fault = groups["fault"] if groups["fault"] in FAULT_KINDS else fault
        else:
            echo = True
    text = _SPACES.sub(" ", _DIRECTIVE.sub(" ", message)).strip()
    return Directives(text, tuple(calls), loop, reply, pace, fault, echo, found)
