"""The turn's end, saved: the reply, the token usage and the lock's release in one statement.

``done`` follows the write, unless the write has to wait (many turns ending at once, a congested
pool): then ``done`` goes first and the write follows, so a visitor's stream never waits on the
database for long. A new message on the thread is refused (409) until the lock is released, so the
history stays in order; if the write fails, the lease expires on its own.
"""

from __future__ import annotations

import logging
from contextlib import aclosing
from typing import TYPE_CHECKING

from proxy.store.threads import EndStep

if TYPE_CHECKING:
    from proxy.turns.runner import ActiveRun

__all__ = ("save_turn_end",)

logger = logging.getLogger(__name__)


async def save_turn_end(run: ActiveRun) -> None:
    """Write the end of ``run``; its stream is closed first if the write has to wait."""
    record = run.record
    step: EndStep = "lost"
    try:
        async with aclosing(
            run.services.threads.finish_turn(
                run.thread_id,
                run.run_id,
                record.reply_so_far(),
                usage=record.usage,
                provider_id=run.provider_state,
            )
        ) as steps:
            async for step in steps:
                if step == "waiting":
                    run.end_stream()
    except Exception:  # the lease expires on its own; never leave the stream without `done`
        logger.exception("could not save the end of a turn", extra={"run_id": run.run_id})
        step = "lost"
    if step != "saved" and record.usage is not None:
        usage = record.usage
        logger.error(
            "token usage of a turn not stored",
            extra={
                "tenant": usage.tenant,
                "model": usage.model,
                "input": usage.input_tokens,
                "output": usage.output_tokens,
            },
        )
