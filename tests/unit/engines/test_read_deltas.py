"""The tokens of one read go on as one delta (the turn's events per read, not per token)."""

from __future__ import annotations

from typing import Any

from proxy.engines.base import AssistantProfile, EngineError, MessageCompleted, TextDelta, ToolStarted, TurnFinished
from proxy.engines.chat import ChatEngine
from proxy.engines.rounds import folded
from tests.support.engines import run_turn


def engine(client: Any) -> ChatEngine:
    return ChatEngine(client, AssistantProfile(model="llama-test", instructions="Be brief."))


def in_reads(body: Any, *sizes: int) -> None:
    """Deliver the body's SSE messages in reads of ``sizes`` messages each (the rest one by one)."""
    chunks, reads = list(body.chunks), []
    for size in sizes:
        reads.append(b"".join(chunks[:size]))
        del chunks[:size]
    body.chunks = reads + chunks


def deltas(events: list[Any]) -> list[str]:
    return [e.delta for e in events if isinstance(e, TextDelta)]


async def test_the_tokens_of_one_read_are_one_delta_and_reads_stay_apart(client, provider, cx, make_turn) -> None:
    body = provider.stream(cx.text(["Hel", "lo", " there", "!", " Bye"]), done=True)
    in_reads(body, 4, 1)  # the role chunk and three tokens; then each on its own

    events, error = await run_turn(engine(client), make_turn("Hi"))

    assert error is None
    assert deltas(events) == ["Hello there", "!", " Bye"]
    assert {e.message_id for e in events if isinstance(e, TextDelta)} == {"chatcmpl-1"}
    assert [e for e in events if isinstance(e, MessageCompleted)] == [
        MessageCompleted("chatcmpl-1", "Hello there! Bye")
    ]
    assert isinstance(events[-1], TurnFinished)


async def test_a_failure_in_a_read_comes_after_the_text_before_it(client, provider, cx, make_turn) -> None:
    chunks = cx.text(["Par", "tial"], usage=None)[:-1]  # no finish
    chunks.append({"error": {"message": "overloaded", "type": "server_error"}})
    body = provider.stream(chunks)
    in_reads(body, len(chunks))  # everything, the error too, in one read

    events, error = await run_turn(engine(client), make_turn("Hi"))

    assert deltas(events) == ["Partial"]
    assert isinstance(error, EngineError)


def test_folded_joins_only_consecutive_deltas_of_one_message() -> None:
    started = ToolStarted("call_1", "lookup")
    raw = [TextDelta("m1", "a"), None, TextDelta("m1", "b"), TextDelta("m2", "c"), TextDelta("m2", "d"), started]
    raw += [TextDelta("m2", "e"), TextDelta("m2", "f")]

    outs, failed = folded(raw, lambda event: event)

    assert failed is None
    assert outs == [TextDelta("m1", "ab"), TextDelta("m2", "cd"), started, TextDelta("m2", "ef")]


def test_folded_keeps_a_lone_delta_as_it_came_and_hands_back_the_failure() -> None:
    lone = TextDelta("m1", "a")
    boom = EngineError("upstream_failed", "cut")

    def on_event(event: Any) -> Any:
        if event == "fail":
            raise boom
        return event

    outs, failed = folded([lone, TextDelta("m2", "b"), TextDelta("m2", "c"), "fail", TextDelta("m2", "d")], on_event)

    assert outs[0] is lone
    assert outs == [lone, TextDelta("m2", "bc")]
    assert failed is boom
