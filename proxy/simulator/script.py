"""What the simulated model answers: a pure, deterministic function of what it is shown.

All three protocols reduce their request to a :class:`ModelInput` (the transcript the model can
see, the instructions and the offered tools) and render the :class:`Reply` of :func:`decide`.

Two models answer:

* ``offline`` (the default, :mod:`proxy.offline`): reads the last user message, calls the offered
  tools it needs with arguments from their JSON schemas, and answers in plain language from their
  outputs; it sees the whole transcript, so follow-ups work. A message holding any ``[[...]]``
  directive is answered as by the echo model below, so tests keep full control.
* ``echo`` reads the directives of the last user message (see :mod:`.directives`). Without any it
  echoes the message and counts the user messages it can see, padded with filler words up to the
  reply length, so tests can tell whether the history really reached it. After tool outputs came
  back it quotes each of them: ``NAME returned: <first 300 chars>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from proxy.offline import Message, ToolSpec, respond, split_tokens
from proxy.simulator.directives import Directives, RequestedCall, parse_directives

__all__ = (
    "Entry",
    "ModelInput",
    "Pace",
    "Reply",
    "ToolCall",
    "ToolResult",
    "decide",
    "split_arguments",
    "split_tokens",
)

_ARGUMENT_FRAGMENT = 12  # characters of tool-call arguments per delta
_QUOTE_LIMIT = 300
_ECHO_LIMIT = 60
_INSTRUCTIONS_LIMIT = 40
_FILLER = (
    "The",
    "simulator",
    "pads",
    "its",
    "replies",
    "with",
    "these",
    "filler",
    "words",
    "so",
    "that",
    "pacing,",
    "token",
    "counts",
    "and",
    "long",
    "streams",
    "can",
    "be",
    "exercised",
    "without",
    "a",
    "real",
    "model",
    "behind",
    "the",
    "proxy.",
)


def split_arguments(arguments: str) -> tuple[str, ...]:
    """Fixed-size fragments of a call's JSON arguments, as a model streams them."""
    size = _ARGUMENT_FRAGMENT
    return tuple(arguments[i : i + size] for i in range(0, len(arguments), size))


def _words(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True, slots=True)
class Pace:
    ttft_ms: int = 0
    gap_ms: int = 0
    tokens: int = 40

    @property
    def ttft(self) -> float:
        return self.ttft_ms / 1000

    @property
    def gap(self) -> float:
        return self.gap_ms / 1000


@dataclass(frozen=True, slots=True)
class Entry:
    """One transcript item in neutral form; ``name`` is the function name of a ``tool`` entry, and of
    an ``assistant`` entry that is a function call (its ``text`` then holds the arguments)."""

    role: Literal["system", "user", "assistant", "tool"]
    text: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class ToolResult:
    name: str
    output: str


@dataclass(frozen=True, slots=True)
class ModelInput:
    user_text: str
    """The last user message."""
    user_messages: int
    """How many user messages the model can see, that one included."""
    instructions: str = ""
    tools: frozenset[str] = frozenset()
    """Names of the offered function tools (empty when ``tool_choice`` is ``none``)."""
    tool_results: tuple[ToolResult, ...] = ()
    """Tool outputs after the last user message, oldest first."""
    input_tokens: int = 0
    entries: tuple[Entry, ...] = ()
    """The whole transcript the model can see (the offline model reads it)."""
    specs: tuple[ToolSpec, ...] = ()
    """Descriptions and JSON schemas of the offered tools."""

    @classmethod
    def from_entries(
        cls,
        entries: Sequence[Entry],
        *,
        instructions: str = "",
        tools: Iterable[str] = (),
        specs: Iterable[ToolSpec] = (),
    ) -> ModelInput:
        last_user = -1
        users = 0
        tokens = _words(instructions)
        for index, entry in enumerate(entries):
            tokens += _words(entry.text)
            if entry.role == "user":
                last_user = index
                users += 1
        results = tuple(ToolResult(e.name, e.text) for e in entries[last_user + 1 :] if e.role == "tool")
        offered = frozenset(tools)
        return cls(
            user_text=entries[last_user].text if last_user >= 0 else "",
            user_messages=users,
            instructions=instructions,
            tools=offered,
            tool_results=results,
            input_tokens=tokens,
            entries=tuple(entries),
            specs=tuple(spec for spec in specs if spec.name in offered),
        )


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: str
    fragments: tuple[str, ...]

    @classmethod
    def of(cls, name: str, arguments: str) -> ToolCall:
        return cls(name, arguments, split_arguments(arguments))


@dataclass(frozen=True, slots=True)
class Reply:
    """Either text (``tool_calls`` empty) or parallel function calls (``text`` empty)."""

    text: str
    tokens: tuple[str, ...]
    tool_calls: tuple[ToolCall, ...]
    pace: Pace
    fault: str | None = None

    @property
    def output_tokens(self) -> int:
        """One per streamed delta, as the usage numbers count them."""
        return len(self.tokens) + sum(len(call.fragments) for call in self.tool_calls)


def _text_reply(text: str, pace: Pace, fault: str | None) -> Reply:
    return Reply(text, split_tokens(text), (), pace, fault)


def _calls_reply(calls: Iterable[RequestedCall], pace: Pace, fault: str | None) -> Reply:
    return Reply("", (), tuple(ToolCall.of(c.name, c.arguments) for c in calls), pace, fault)


def _one_line(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]


def _echo(directives: Directives, model_input: ModelInput, pace: Pace) -> str:
    text = f"Echo: {directives.text[:_ECHO_LIMIT]}. This is message {model_input.user_messages} of this conversation."
    if directives.echo_instructions:
        text += f" Instructions: {_one_line(model_input.instructions, _INSTRUCTIONS_LIMIT)}"
    missing = pace.tokens - _words(text)
    if missing > 0:
        filler = (_FILLER * (missing // len(_FILLER) + 1))[:missing]
        text += " " + " ".join(filler)
    return text


def _quote(results: Iterable[ToolResult]) -> str:
    return "\n".join(f"{result.name} returned: {result.output[:_QUOTE_LIMIT]}" for result in results)


def _loop_call(name: str, round_no: int) -> RequestedCall:
    return RequestedCall(name, json.dumps({"round": round_no}, separators=(",", ":")))


def _offline(model_input: ModelInput, pace: Pace, now: datetime | None) -> Reply:
    messages = [Message(e.role, e.text, e.name) for e in model_input.entries]
    specs = model_input.specs or tuple(ToolSpec(name) for name in sorted(model_input.tools))
    answer = respond(messages, specs, instructions=model_input.instructions, now=now)
    if answer.tool_calls:
        return _calls_reply([RequestedCall(name, arguments) for name, arguments in answer.tool_calls], pace, None)
    return _text_reply(answer.text, pace, None)


def decide(model_input: ModelInput, defaults: Pace, *, model: str = "offline", now: datetime | None = None) -> Reply:
    """The model's answer to ``model_input``; ``defaults`` is the server's pacing, ``model`` who
    answers a message without directives (``offline`` or ``echo``), ``now`` the offline model's clock."""
    directives = parse_directives(model_input.user_text)
    override = directives.pace
    pace = Pace(
        defaults.ttft_ms if override.ttft_ms is None else override.ttft_ms,
        defaults.gap_ms if override.gap_ms is None else override.gap_ms,
        defaults.tokens if override.tokens is None else override.tokens,
    )
    fault = directives.fault
    tools = model_input.tools
    if model == "offline" and not directives.found:
        return _offline(model_input, pace, now)

    if model_input.tool_results:
        if directives.loop is not None and directives.loop in tools:
            return _calls_reply([_loop_call(directives.loop, len(model_input.tool_results) + 1)], pace, fault)
        text = directives.reply if directives.reply is not None else _quote(model_input.tool_results)
        return _text_reply(text, pace, fault)

    wanted = list(directives.calls)
    if directives.loop is not None:
        wanted.append(_loop_call(directives.loop, 1))
    offered = [call for call in wanted if call.name in tools]
    if offered:
        return _calls_reply(offered, pace, fault)

    text = directives.reply if directives.reply is not None else _echo(directives, model_input, pace)
    if wanted:
        missing = " ".join(f"The tool {call.name} is not available." for call in wanted)
        text = f"{missing} {text}"
    return _text_reply(text, pace, fault)
