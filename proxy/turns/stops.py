"""Why a turn ends early: the errors its stream ends with, and how a failure's causes are logged.

The manager (a shutdown), the leases (a worker that vanished) and the runner (a stop, the turn's
deadline) end turns with these, so a visitor sees the same words whoever stopped the reply.
"""

from __future__ import annotations

from proxy.engines.base import EngineError

__all__ = ("CANCELLED", "INTERRUPTED", "NOT_CREATED", "SHUTTING_DOWN", "TURN_TIMEOUT", "causes")

CANCELLED = EngineError("cancelled", "The reply was stopped.", retryable=True, status=409)
SHUTTING_DOWN = EngineError(
    "shutting_down", "The server is restarting; send the message again in a moment.", retryable=True, status=503
)
TURN_TIMEOUT = EngineError("turn_timeout", "The reply took too long and was stopped.", retryable=True)
# a first message whose thread could not be stored (proxy.turns.first_turn): the request fails with
# the statement's own error; the turn, started meanwhile, ends with this on a stream nobody follows
NOT_CREATED = EngineError("internal", "The conversation could not be stored.", retryable=True, status=503)
INTERRUPTED = EngineError(
    "interrupted",
    "The server writing this reply stopped; what it had written is in the thread's messages.",
    retryable=True,
)


def causes(exc: BaseException, depth: int = 4) -> str:
    """``exc`` and what it came from, innermost last (the SDK's "timed out" over a refused connection)."""
    named: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(named) < depth:
        named.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return " <- ".join(named)
