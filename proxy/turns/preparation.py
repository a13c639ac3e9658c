"""Before the provider is asked: a handoff the visitor asked for, the provider's conversation, the
history the engine sends along and the tools' context, made into the engine's ``Turn``.

The turn needs no query of its own on the way: ``TurnManager.open`` read the history with the lock
(cut to the engine's window), and a conversation created here is stored with the turn's end (or its
lease's next renewal, whichever comes first): one round trip less on a first turn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy.console.takeover import briefed
from proxy.engines.base import Engine, HistoryMessage, Turn
from proxy.leads.handoff import handoff_event, handoff_for_message, handoff_requested
from proxy.tools.registry import ToolContext
from proxy.turns.events import HANDOFF

if TYPE_CHECKING:
    from proxy.turns.runner import ActiveRun

__all__ = ("hand_off_if_asked", "prepare_turn")


async def hand_off_if_asked(run: ActiveRun) -> None:
    """A tenant that offers handoffs hands over on its keywords or a plain request for a human."""
    job = run.job
    if "escalate_to_human" not in job.tools:  # the tenant does not offer handoffs
        return
    leads = job.tenant_config.leads
    if handoff_requested(job.user_text, leads.handoff_keywords, explicit=leads.handoff_on_request) is None:
        return
    await run.thread_created()  # the handoff is recorded against the thread
    record = await handoff_for_message(
        run.services.threads.db,
        tenant=job.tenant,
        tenant_config=job.tenant_config,
        thread_id=run.thread_id,
        visitor=job.visitor,
        text=job.user_text,
    )
    if record is not None:
        run.publish(HANDOFF, handoff_event(record))


async def prepare_turn(run: ActiveRun, engine: Engine, *, model: str | None) -> Turn:
    """The provider conversation (created on the first turn), the history ``engine`` asks for and
    the tool context."""
    job = run.job
    conversation_id = job.thread.provider_id
    if conversation_id is None:
        conversation_id = await engine.create_conversation()
        if conversation_id is not None and run.provider_state is None:
            run.provider_state = conversation_id
    context = ToolContext(
        tenant=job.tenant,
        thread_id=run.thread_id,
        visitor=job.visitor,
        tenant_config=job.tenant_config,
        db=run.services.threads.db,
        run_id=run.run_id,
        emit=run.publish,
        page_url=job.page_url,
        services=run.services.tool_services,
    )
    # after a person handed the conversation back, the assistant first hears what it missed
    user_text = briefed(job.user_text, job.thread.briefing)
    history = await _history(run, engine)
    return Turn(conversation_id, user_text, job.tools, context, history, model=model, pace=run.channel.pace)


async def _history(run: ActiveRun, engine: Engine) -> tuple[HistoryMessage, ...]:
    """The earlier messages ``engine`` sends along, oldest first (the visitor's new message is
    the turn's input, not history).

    The lock read them for the tenant's engine. Only the offline fallback of a tenant whose
    provider keeps the conversation (so nothing was read) reads its own, once.
    """
    window = engine.history_window()
    if window == 0:
        return ()
    job = run.job
    if window <= job.window:
        read = job.thread.history or ()
        return read if len(read) <= window else read[-window:]
    # the messages before the visitor's: for a first message, once its statement stored that one
    await run.thread_created()
    before = run.job.thread.user_message_id
    return tuple(await run.services.threads.history(run.thread_id, limit=window, before=before))
