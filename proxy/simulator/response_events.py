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
from proxy.simulator.faults import CUT_FAILURE, RATE_LIMITED, SERVER_ERROR, RunFailure
from proxy.simulator.pacing import Ended, Pacer
from proxy.simulator.streaming import Program, StreamCancelled

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


def response_program(record: ResponseRecord, reply: Reply, items: list[dict[str, Any]], input_tokens: int) -> Program:
    body = record.body
    numbers = itertools.count()

    def emit(kind: str, **fields: Any) -> bytes:
        return sse.event(kind, {"type": kind, "sequence_number": next(numbers), **fields})

    def template(kind: str, **fields: Any) -> sse.Template:
        """For the deltas: the event encoded once, then numbered and filled per delta."""
        return sse.Template(sse.event(kind, {"type": kind, "sequence_number": sse.SLOT, **fields}))

    def failed(failure: RunFailure) -> Iterator[bytes]:
        record.fail(failure)
        yield emit("response.failed", response=body)

    pacer = Pacer(
        reply.pace,
        reply.fault,
        on_cut=lambda: record.fail(CUT_FAILURE),
        on_failed=lambda: failed(SERVER_ERROR),
    )
    try:
        yield emit("response.created", response=body)
        yield emit("response.in_progress", response=body)
        if reply.pace.ttft:
            yield reply.pace.ttft
        if reply.fault == "run_rate_limit":
            yield from failed(RATE_LIMITED)
            return
        for index, item in enumerate(items):
            item_id = item["id"]
            where = {"item_id": item_id, "output_index": index}
            if item["type"] == "function_call":
                added = {**item, "status": "in_progress", "arguments": ""}
                yield emit("response.output_item.added", output_index=index, item=added)
                delta = template("response.function_call_arguments.delta", **where, delta=sse.SLOT)
                for fragment in reply.tool_calls[index].fragments:
                    yield from pacer.before_delta()
                    yield delta(next(numbers), fragment)
                yield emit("response.function_call_arguments.done", **where, arguments=item["arguments"])
            else:
                part = item["content"][0]
                where["content_index"] = 0
                yield emit(
                    "response.output_item.added",
                    output_index=index,
                    item={**item, "status": "in_progress", "content": []},
                )
                yield emit("response.content_part.added", **where, part={**part, "text": ""})
                delta = template("response.output_text.delta", **where, delta=sse.SLOT, logprobs=[])
                for token in reply.tokens:
                    yield from pacer.before_delta()
                    yield delta(next(numbers), token)
                yield emit("response.output_text.done", **where, text=part["text"], logprobs=[])
                yield emit("response.content_part.done", **where, part=part)
            yield emit("response.output_item.done", output_index=index, item=item)
        yield from pacer.before_end()
        record.complete(items, usage(input_tokens, reply.output_tokens))
        yield emit("response.completed", response=body)
    except Ended:
        return
    except StreamCancelled:
        yield emit("response.incomplete", response=body)
    finally:
        record.abandon()
