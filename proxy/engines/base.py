"""The one small interface every provider engine implements, and the events it yields.

An engine turns one user message into a stream of neutral events. It speaks its provider's wire
format, runs the function-call loop (:mod:`proxy.engines.rounds`) through the tool registry, and
never knows about HTTP clients of ours, SSE or tenants' origins. The turn runner (``proxy.turns``)
wraps these events with ``run.started`` / ``run.completed`` / ``error`` / ``done`` and their SSE
ids.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

import msgspec

from proxy.engines.modes import ContextSetting
from proxy.errors import ProxyError

if TYPE_CHECKING:
    from proxy.tools.registry import ToolContext, ToolSet


# -- events an engine yields ---------------------------------------------------------------------


class TextDelta(msgspec.Struct, frozen=True, gc=False):
    """A piece of the reply's text: nearly every event of a turn, so made in C (a fifth of a frozen
    dataclass's cost) and outside the garbage collector's count (it holds two strings)."""

    message_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class ToolStarted:
    call_id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolFinished:
    call_id: str
    name: str
    ok: bool


@dataclass(frozen=True, slots=True)
class MessageCompleted:
    message_id: str
    content: str


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)


@dataclass(frozen=True, slots=True)
class TurnFinished:
    """Always the engine's last event when the turn succeeded."""

    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True, slots=True)
class ContextSaved:
    """The thread's provider-side context moved on: keep ``state`` as the thread's provider id.

    Not shown to the visitor: the runner stores it with the end of the turn. The responses engine
    yields it when it chains responses (the last response, and the outputs of calls it left open)
    or creates a conversation in the middle of a turn.
    """

    state: str


EngineEvent = TextDelta | ToolStarted | ToolFinished | MessageCompleted | TurnFinished | ContextSaved


# -- errors --------------------------------------------------------------------------------------


ErrorCode = Literal[
    "upstream_auth",  # provider rejected the key (401/403)
    "upstream_not_found",  # model, assistant or conversation unknown to the provider (404)
    "upstream_rate_limited",  # 429 rate limit: retry later
    "upstream_quota",  # 429 insufficient_quota: retrying will not help
    "upstream_bad_request",  # provider said 400 to what we sent
    "upstream_unavailable",  # 5xx, connection refused, DNS, TLS
    "upstream_timeout",  # no answer within the time limit
    "upstream_stream_cut",  # the stream ended without its terminal event
    "upstream_failed",  # the provider reported the run/response as failed
    "turn_timeout",  # our own server-side limit for a whole turn
    "tool_rounds_exceeded",  # the model kept calling tools past the bound
    "cancelled",  # the visitor pressed Stop
    "shutting_down",  # the server stopped before the reply finished: send it again
    "interrupted",  # the worker running the reply died; its finished part is in the history
    "internal",  # a bug of ours
]


class EngineError(ProxyError):
    """A failure that ends the turn; becomes an ``error`` event (or a JSON error before streaming)."""

    code: ErrorCode

    def __init__(self, code: ErrorCode, message: str, *, retryable: bool = False, status: int = 502) -> None:
        super().__init__(message, code=code, status=status)
        self.retryable = retryable

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


# -- what a turn needs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryMessage:
    role: Literal["user", "assistant"]
    content: str


class Holdable(Protocol):
    """What a :class:`ReadPace` holds: the connection reading a turn's provider answer."""

    def hold(self, seconds: float) -> bool:
        """Read nothing more for at most ``seconds`` (or not at all, when it cannot wait: False)."""
        ...


class ReadPace:
    """Between one turn's stream and the connection reading its provider's answer now.

    The stream shows tokens only at its writes, with a pause between them
    (:mod:`proxy.turns.channel`); after writing text it calls :meth:`hold` for its pause, and the
    connection (``source``, set while it reads an answer of the turn) stops reading until then,
    so that the tokens arriving meanwhile come in one read and one wake-up of the turn instead of
    one each (see :mod:`proxy.engines.wire.pacing`). Engines that read no such connection ignore it.
    """

    __slots__ = ("source",)

    def __init__(self) -> None:
        self.source: Holdable | None = None

    def hold(self, seconds: float) -> bool:
        """Whether the reading is held (up to ``seconds``: it ends on the holds' next tick)."""
        source = self.source
        return source is not None and source.hold(seconds)


@dataclass(slots=True)
class Turn:
    """Everything an engine needs for one user message."""

    # the thread's provider id: a conversation or thread, the responses engine's chain (see
    # ContextSaved), or None (the chat engine, or nothing kept yet)
    conversation_id: str | None
    user_text: str
    tools: ToolSet  # the tenant's enabled tools, bound to dispatch
    tool_context: ToolContext
    # earlier messages, oldest first, already cut to Engine.history_window() by the turn runner:
    # an engine sends all of them and does not cut again
    history: Sequence[HistoryMessage] = ()
    model: str | None = None  # overrides the profile's model for this turn (e.g. a budget fallback)
    pace: ReadPace | None = None  # the turn's stream paces the reading of the provider's answer


@dataclass(frozen=True, slots=True)
class AssistantProfile:
    """The tenant's assistant as it lives in our config (not in a provider-side object)."""

    model: str
    instructions: str = ""
    assistant_id: str | None = None  # assistants engine: an existing provider assistant, optional
    max_tool_rounds: int = 8
    history_window: int = 20  # engines that send our stored history: how many earlier messages
    temperature: float | None = None
    context: ContextSetting = "auto"  # responses engine: how the provider gets the conversation's context


class Engine(ABC):
    """Adapter between one provider protocol and our neutral events."""

    name: str

    def history_window(self) -> int:
        """How many earlier messages of our transcript a turn needs; 0: none.

        The turn runner reads that many into ``Turn.history`` (once, with the thread's lock).
        """
        return 0

    async def check_provider(self) -> str | None:
        """Ask the provider whether it offers what this configuration needs (start-up, doctor).

        A line for the log when it does (None: nothing to check); ``EngineError`` saying what to
        change when it does not.
        """
        return None

    @abstractmethod
    async def create_conversation(self) -> str | None:
        """Create the provider-side conversation; ``None`` when the provider keeps no state."""

    @abstractmethod
    async def delete_conversation(self, conversation_id: str | None) -> None:
        """Delete the provider-side conversation; missing ones are not an error."""

    @abstractmethod
    def stream_turn(self, turn: Turn) -> AsyncGenerator[EngineEvent, None]:
        """Yield the events of one turn, ending with ``TurnFinished``, or raise ``EngineError``.

        Closing the iterator early (the visitor left or pressed Stop) must stop the provider's
        work: implementations cancel the run/response in a shielded ``finally``.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release clients held by the engine."""
