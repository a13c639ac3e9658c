"""One leg of a run (up to its next stop) as an SSE program of Assistants events.

A leg opens with ``thread.run.created``, ``thread.run.queued``, ``thread.run.in_progress`` (after
``submit_tool_outputs``: ``thread.run.step.completed`` for the tool step, then ``thread.run.queued``
and ``thread.run.in_progress``) and continues with either

* function calls: ``thread.run.step.created`` / ``.in_progress`` (a ``tool_calls`` step),
  ``thread.run.step.delta`` per call (index, id, name) and per argument fragment, then
  ``thread.run.requires_action``; or
* text: ``thread.run.step.created`` / ``.in_progress`` (``message_creation``),
  ``thread.message.created`` / ``.in_progress``, ``thread.message.delta`` per token,
  ``thread.message.completed``, ``thread.run.step.completed``, ``thread.run.completed``;

then always ``event: done`` / ``data: [DONE]``. Failures end with ``thread.run.failed`` (its
``last_error`` says why), a cancel with ``thread.run.cancelled``.

Non-streamed runs play the same program without sending it (:func:`drain`), so both paths change
the run the same way; pacing is skipped there and a ``stall`` leaves the run in progress.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from proxy.simulator import sse
from proxy.simulator.faults import CUT_FAILURE, RATE_LIMITED, SERVER_ERROR
from proxy.simulator.pacing import Ended, Pacer
from proxy.simulator.streaming import CUT, STALL, Program, StreamCancelled

if TYPE_CHECKING:
    from proxy.simulator.runs import RunRecord
    from proxy.simulator.script import Reply

__all__ = ("drain", "run_program")


def _emit(name: str, data: dict[str, Any]) -> bytes:
    return sse.event(name, data)


def _opening(run: RunRecord, *, resumed: bool) -> Iterator[bytes]:
    body = run.body
    if resumed:
        if run.tool_step is not None:
            yield _emit("thread.run.step.completed", run.tool_step)
    else:
        yield _emit("thread.run.created", body)
    yield _emit("thread.run.queued", body)
    run.start()
    yield _emit("thread.run.in_progress", body)


def _tool_calls(run: RunRecord, reply: Reply, pacer: Pacer) -> Iterator[Any]:
    calls = [(run.new_id("call_"), call) for call in reply.tool_calls]
    step = run.new_step("tool_calls", {"type": "tool_calls", "tool_calls": []})
    yield _emit("thread.run.step.created", step)
    yield _emit("thread.run.step.in_progress", step)
    for index, (call_id, call) in enumerate(calls):
        opening = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": "", "output": None},
        }
        yield _emit("thread.run.step.delta", _step_delta(step, opening))
        fragment = {"index": index, "type": "function", "function": {"arguments": sse.SLOT}}
        delta = sse.Template(_emit("thread.run.step.delta", _step_delta(step, fragment)))
        for text in call.fragments:
            yield from pacer.before_delta()
            yield delta(text)
    yield from pacer.before_end()
    run.require_action(calls, step)
    yield _emit("thread.run.requires_action", run.body)


def _step_delta(step: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": step["id"],
        "object": "thread.run.step.delta",
        "delta": {"step_details": {"type": "tool_calls", "tool_calls": [call]}},
    }


def _message(run: RunRecord, reply: Reply, pacer: Pacer) -> Iterator[Any]:
    message = run.open_message()
    step = run.new_step(
        "message_creation", {"type": "message_creation", "message_creation": {"message_id": message["id"]}}
    )
    yield _emit("thread.run.step.created", step)
    yield _emit("thread.run.step.in_progress", step)
    yield _emit("thread.message.created", message)
    yield _emit("thread.message.in_progress", message)
    block = {"index": 0, "type": "text", "text": {"value": sse.SLOT, "annotations": []}}
    delta = sse.Template(
        _emit(
            "thread.message.delta",
            {"id": message["id"], "object": "thread.message.delta", "delta": {"content": [block]}},
        )
    )
    for token in reply.tokens:
        yield from pacer.before_delta()
        yield delta(token)
    yield from pacer.before_end()
    run.close_message(message, reply.text)
    yield _emit("thread.message.completed", message)
    run.complete_step(step)
    yield _emit("thread.run.step.completed", step)
    run.complete()
    yield _emit("thread.run.completed", run.body)


def run_program(run: RunRecord, reply: Reply, *, resumed: bool = False) -> Program:
    def failed() -> Iterator[bytes]:
        run.fail(SERVER_ERROR)
        if run.current_step is not None:
            yield _emit("thread.run.step.failed", run.current_step)
        yield _emit("thread.run.failed", run.body)
        yield sse.EVENT_DONE

    pacer = Pacer(reply.pace, reply.fault, on_cut=lambda: run.fail(CUT_FAILURE), on_failed=failed)
    try:
        yield from _opening(run, resumed=resumed)
        if reply.pace.ttft:
            yield reply.pace.ttft
        if reply.fault == "run_rate_limit":
            run.fail(RATE_LIMITED)
            yield _emit("thread.run.failed", run.body)
        elif reply.tool_calls:
            yield from _tool_calls(run, reply, pacer)
        else:
            yield from _message(run, reply, pacer)
        yield sse.EVENT_DONE
    except Ended:
        return
    except StreamCancelled:
        yield _emit("thread.run.cancelled", run.body)
        yield sse.EVENT_DONE


def drain(program: Program) -> None:
    """Play ``program`` to its end (or its ``stall``/``cut``) without a client: the state changes only."""
    try:
        for step in program:
            if step is STALL or step is CUT:
                break
    finally:
        program.close()
