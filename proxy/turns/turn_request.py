"""What a turn is asked for (:class:`TurnRequest`) and the refusals of a thread that cannot take it."""

from __future__ import annotations

from dataclasses import dataclass

from proxy.errors import ProxyError
from proxy.store.threads import HeldThread, LockedThread
from proxy.tenants import TenantConfig
from proxy.visitors import Visitor

__all__ = ("ThreadBusy", "ThreadHeld", "ThreadMissing", "TurnRequest", "turn_visitor")


class ThreadMissing(ProxyError):
    """No such thread for this caller (another tenant's, visitor's or signed-in user's, or none)."""

    code, status = "thread_not_found", 404


class ThreadBusy(ProxyError):
    """A reply is still being written in the thread (or a person of the staff holds it)."""

    code, status = "thread_busy", 409


class ThreadHeld(ProxyError):
    """A person of the staff holds the thread, for a :attr:`TurnRequest.for_holder` request: no
    turn, the message stored for them (``held``); other requests get :class:`ThreadBusy`."""

    code, status = "thread_held", 409

    def __init__(self, held: HeldThread) -> None:
        super().__init__(held.thread_id)
        self.held = held


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """A visitor's message for a thread, as the API checked it."""

    tenant: TenantConfig
    thread_id: str
    text: str
    visitor: Visitor  # who sends it, as this request proved
    binding: str | None  # the thread binding presented: the visitor's, or a signed-in user's other device's
    page_url: str | None = None
    operator: bool = False  # the tenant's own server or staff: errors keep the provider's words
    # the thread's first message: ``thread_id`` (a new id) is created with the turn, bound to ``visitor``
    new_thread: bool = False
    # while a person of the staff holds the thread, store the message for them (ThreadHeld) rather
    # than refuse it as busy: the same statement that would open the turn does either
    for_holder: bool = False


def turn_visitor(thread: LockedThread, visitor: Visitor) -> Visitor:
    """Who the turn's tools serve: the identity this request proved for the thread's own user (the
    lock checked they are the same), else nobody in particular (an anonymous thread's visitor,
    whatever the request's token says)."""
    return visitor if thread.visitor_user_id is not None else Visitor(id=thread.visitor)
