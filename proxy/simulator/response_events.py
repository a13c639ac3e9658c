"""The output of one response: its items, its usage and the SSE program that streams them.

Event order, as the Responses API streams it::

    response.created, response.in_progress,
    per text message:   response.output_item.added, response.content_part.added,
                        response.output_text.delta..., response.output_text.done,
                        response.content_part.done, response.output_item.done
    per function call:  response.output_item.added (call_id, name, arguments ""),
                        response.function_call_arguments.delta..., response.function_call_arguments.done,
                        response.output_item.done
    response.completed | response.failed | response.incomplete (after a cancel)

Every event carries ``sequence_number``, counted from 0.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from proxy.simulator import sse
from proxy.simulator.faults import FAULT_AFTER_DELTAS, RunFailure, run_failure
from proxy.simulator.streaming import CUT, STALL, Program, StreamCancelled

if TYPE_CHECKING:
    from proxy.simulator.responses import ResponseRecord
    from proxy.simulator.script import Reply

__all__ = ("output_items", "response_program", "usage")

def usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def output_items(reply: Reply, new_id: Callable[[str], str]) -> list[dict[str, Any]]:
    """The finished output items of ``reply``, ids included."""
    if reply.tool_calls:
        return [
            {
                "id": new_id("fc_"),
                "type": "function_call",
                "status": "completed",
                "arguments": call.arguments,
                "call_id": new_id("call_"),
                "name": call.name,
            }
            for call in reply.tool_calls
        ]
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": reply.text}
    return [{"id": new_id("msg_"), "type": "message", "status": "completed", "role": "assistant", "content": [part]}]


class _Ended(Exception):
    """A fault ended the program early."""


def response_program(record: ResponseRecord, reply: Reply, items: list[dict[str, Any]], input_tokens: int) -> Program:
    body = record.body
    numbers = itertools.count()
    fault = reply.fault
    pace = reply.pace
    sent = 0  # deltas so far

    def emit(kind: str, **fields: Any) -> bytes:
        return sse.event(kind, {"type": kind, "sequence_number": next(numbers), **fields})

    def fail(failure: RunFailure) -> bytes:
        record.fail(failure)
        return emit("response.failed", response=body)

    def delta(kind: str, item_id: str, index: int, extra: dict[str, Any]) -> Iterator[bytes | float]:
        """One delta, after the gap, or the mid-stream fault once enough deltas went out."""
        nonlocal sent
        if sent and pace.gap:
            yield pace.gap
        if sent == FAULT_AFTER_DELTAS and fault in ("cut", "stall", "failed"):
            yield from interrupt()
        sent += 1
        yield emit(kind, item_id=item_id, output_index=index, **extra)

    def interrupt() -> Iterator[Any]:
        if fault == "stall":
            yield STALL
        elif fault == "cut":
            record.fail(run_failure("cut"))  # type: ignore[arg-type]
            yield CUT
        else:
            yield fail(run_failure("failed"))  # type: ignore[arg-type]
        raise _Ended

    try:
        yield emit("response.created", response=body)
        yield emit("response.in_progress", response=body)
        if pace.ttft:
            yield pace.ttft
        if fault == "run_rate_limit":
            yield fail(run_failure(fault))  # type: ignore[arg-type]
            return
        for index, item in enumerate(items):
            item_id = item["id"]
            if item["type"] == "function_call":
                yield emit("response.output_item.added", output_index=index, item={**item, "status": "in_progress", "arguments": ""})
                for fragment in reply.tool_calls[index].fragments:
                    yield from delta("response.function_call_arguments.delta", item_id, index, {"delta": fragment})
                yield emit("response.function_call_arguments.done", item_id=item_id, output_index=index, arguments=item["arguments"])
            else:
                part = item["content"][0]
                empty = {**part, "text": ""}
                position = {"item_id": item_id, "output_index": index, "content_index": 0}
                yield emit("response.output_item.added", output_index=index, item={**item, "status": "in_progress", "content": []})
                yield emit("response.content_part.added", **position, part=empty)
                for token in reply.tokens:
                    yield from delta("response.output_text.delta", item_id, index, {"content_index": 0, "delta": token, "logprobs": []})
                yield emit("response.output_text.done", **position, text=part["text"], logprobs=[])
                yield emit("response.content_part.done", **position, part=part)
            yield emit("response.output_item.done", output_index=index, item=item)
        if sent < FAULT_AFTER_DELTAS and fault in ("cut", "stall", "failed"):
            yield from interrupt()
        record.complete(items, usage(input_tokens, reply.output_tokens))
        yield emit("response.completed", response=body)
    except _Ended:
        return
    except StreamCancelled:
        yield emit("response.incomplete", response=body)
    finally:
        record.abandon()
