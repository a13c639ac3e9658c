"""When the provider is not asked, or failed before saying anything: the offline model answers, or
the tenant's own message does.

A tenant that chose ``fallback = "offline"`` keeps answering past its budget or through a provider's
outage, from the offline model; once the visitor saw a word or a tool call, a failure is the
stream's error instead (a reply is never started twice). Past a hard budget cap without that
fallback, the tenant's message (which offers lead capture) is the whole reply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy.engines.base import EngineError
from proxy.engines.factory import profile_for
from proxy.engines.offline import OFFLINE_MODEL, OfflineEngine
from proxy.turns.events import MESSAGE_COMPLETED, MESSAGE_DELTA, RUN_COMPLETED
from proxy.turns.preparation import prepare_turn

if TYPE_CHECKING:
    from proxy.turns.runner import ActiveRun

__all__ = ("answer_offline", "answer_without_provider", "may_fall_back")


def may_fall_back(run: ActiveRun, error: EngineError) -> bool:
    """A provider failure before any text or tool call, for a tenant that chose the offline fallback."""
    return (
        run.job.tenant_config.fallback == "offline"
        and error.code.startswith("upstream_")
        and not run.record.said_anything
    )


async def answer_offline(run: ActiveRun, outcome: str) -> None:
    """The offline model answers the turn, with the history it asks for."""
    run.outcome = outcome
    engine = OfflineEngine(profile_for(run.job.tenant_config))
    await run.relay(engine, await prepare_turn(run, engine, model=OFFLINE_MODEL), OFFLINE_MODEL)


def answer_without_provider(run: ActiveRun, text: str) -> None:
    """Past the hard budget cap: no provider call; the tenant's message offers lead capture."""
    run.outcome = "budget_exhausted"
    message_id = f"msg_{run.run_id}"
    run.publish(MESSAGE_DELTA, {"message_id": message_id, "delta": text})
    run.publish(MESSAGE_COMPLETED, {"message_id": message_id, "content": text})
    run.record.completed.append(text)
    run.publish(RUN_COMPLETED, {"run_id": run.run_id, "usage": {"input_tokens": 0, "output_tokens": 0}})
