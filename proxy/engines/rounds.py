"""The tool-round loop every engine runs: one request, its streamed events, the calls, again.

A turn is up to ``max_rounds + 1`` rounds. Each round opens one streamed request (a completion, a
response, a run or its submitted outputs), folds its events into neutral events, and ends either
with an answer (the turn is finished) or with function calls. The calls run through the tenant's
tools and their outputs go into the next round's request; the last round asks for no more calls,
and a model that calls tools anyway ends the turn with ``tool_rounds_exceeded``.

What differs between providers is behind the hooks of :class:`ToolRounds`: how a round's request is
built and opened, what one streamed event means, how a round ended, and where the outputs go.
``run_rounds`` is the one generator of the turn on purpose: closing it (the visitor left or pressed
Stop) reaches the open HTTP stream at once, which a nested generator per round would not.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import anyio

from proxy.engines.base import AssistantProfile, EngineError, EngineEvent, TextDelta, Turn, TurnFinished, Usage
from proxy.engines.errors import tool_rounds_exceeded
from proxy.engines.streams import RoundStream, reading
from proxy.engines.toolcalls import ToolCall, dispatch_all
from proxy.tools.registry import ToolOutcome


class RoundState(Protocol):
    """Folds the streamed events of one round."""

    @property
    def usage(self) -> Usage:
        """What the round cost."""
        ...

    def on_event(self, event: Any) -> EngineEvent | None:
        """One streamed event -> at most one neutral event; provider failures raise ``EngineError``."""
        ...


State = TypeVar("State", bound=RoundState)


@dataclass(frozen=True, slots=True)
class RoundEnd:
    """How a round ended: the calls to run (none: the answer is complete), events to yield first,
    and the error that ends the turn after them (e.g. a reply cut by the length limit)."""

    calls: Sequence[ToolCall] = ()
    events: Sequence[EngineEvent] = ()
    error: EngineError | None = None


class ToolRounds(ABC, Generic[State]):
    """One turn's rounds against one provider protocol: the hooks ``run_rounds`` calls.

    An instance lives for one turn and keeps what the next request needs (messages, input items,
    the run being driven).
    """

    def __init__(self, turn: Turn, max_rounds: int) -> None:
        self.turn = turn
        self.max_rounds = max(0, max_rounds)

    async def begin(self) -> Sequence[EngineEvent]:
        """Before the first round (e.g. create a provider conversation); events to yield."""
        return ()

    @abstractmethod
    async def open(self, last: bool) -> tuple[RoundStream, State]:
        """Open this round's streamed request (``last``: ask for no more tool calls)."""

    @abstractmethod
    def finish(self, state: State) -> RoundEnd:
        """After the round's stream ended: raise if it ended wrongly, else the calls it asked for."""

    @abstractmethod
    def answered(self, calls: Sequence[ToolCall], outcomes: Sequence[ToolOutcome]) -> Sequence[EngineEvent]:
        """Keep the calls' outputs for the next round's request; events to yield after the calls'."""

    async def end(self, interrupted: bool) -> None:
        """After the turn, however it ended (``interrupted``: closed or cancelled from outside)."""


def shared_options(
    params: dict[str, Any], tools: list[dict[str, Any]], profile: AssistantProfile, *, last: bool
) -> None:
    """Add what every request of a round sets the same way: the tools (on the last round the model
    may call none) and the temperature, when the profile sets one."""
    if tools:
        params["tools"] = tools
        if last:
            params["tool_choice"] = "none"
    if profile.temperature is not None:
        params["temperature"] = profile.temperature


OnEvent = Callable[[Any], EngineEvent | None]
_NO_DELTA = TextDelta("", "")


def folded(batch: Sequence[Any], on_event: OnEvent) -> tuple[list[EngineEvent], Exception | None]:
    """The neutral events of one read's streamed events, the consecutive text deltas of one message
    joined into one; and what ``on_event`` raised, if it did, after the events before it.

    A read carries several tokens when the reading is paced (:mod:`proxy.engines.wire.pacing`):
    they reach the visitor in the same write anyway, and as one delta they are one event to publish,
    keep, frame and parse instead of one each. The text, and its order among the other events, is
    the same.
    """
    outs: list[EngineEvent] = []
    last = _NO_DELTA  # ``outs[-1]`` while it is a delta
    texts: list[str] = []  # its text and the deltas' joining it
    try:
        for raw in batch:
            out = on_event(raw)
            if out is None:
                continue
            if type(out) is TextDelta:
                if last is not _NO_DELTA and last.message_id == out.message_id:
                    texts.append(out.delta)
                    continue
                if len(texts) > 1:
                    outs[-1] = TextDelta(last.message_id, "".join(texts))
                last, texts = out, [out.delta]
            else:
                if len(texts) > 1:
                    outs[-1] = TextDelta(last.message_id, "".join(texts))
                last, texts = _NO_DELTA, []
            outs.append(out)
    except Exception as exc:  # (an EngineError: the provider failed after the events before it)
        failed: Exception | None = exc
    else:
        failed = None
    if len(texts) > 1:
        outs[-1] = TextDelta(last.message_id, "".join(texts))
    return outs, failed


async def run_rounds(rounds: ToolRounds[Any]) -> AsyncGenerator[EngineEvent, None]:
    """Yield the events of the turn ``rounds`` drives, ending with ``TurnFinished``."""
    turn = rounds.turn
    max_rounds = rounds.max_rounds
    usage = Usage()
    interrupted = False
    try:
        for event in await rounds.begin():
            yield event
        for round_no in range(max_rounds + 1):
            last = round_no == max_rounds
            stream, state = await rounds.open(last)
            on_event = state.on_event
            async with reading(stream) as events:
                next_batch = getattr(events, "next_batch", None)
                if next_batch is not None:  # our provider client: one step per read, not per event
                    while batch := await next_batch():
                        if len(batch) == 1:
                            out = on_event(batch[0])
                            if out is not None:
                                yield out
                            continue
                        outs, failed = folded(batch, on_event)
                        for out in outs:
                            yield out
                        if failed is not None:
                            raise failed
                else:
                    async for raw in events:
                        out = on_event(raw)
                        if out is not None:
                            yield out
            end = rounds.finish(state)
            usage += state.usage
            for event in end.events:
                yield event
            if end.error is not None:
                raise end.error
            calls = end.calls
            if not calls:
                yield TurnFinished(usage)
                return
            if last:
                raise tool_rounds_exceeded(max_rounds)
            for call in calls:
                yield call.started()
            outcomes = await dispatch_all(calls, turn.tools, turn.tool_context)
            after = rounds.answered(calls, outcomes)  # kept before the first yield: a close may come there
            for call, outcome in zip(calls, outcomes, strict=True):
                yield call.finished(outcome)
            for event in after:
                yield event
    except (GeneratorExit, anyio.get_cancelled_exc_class()):
        interrupted = True
        raise
    finally:
        await rounds.end(interrupted)
