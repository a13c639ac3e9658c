"""Injected failures: from a ``[[fault:KIND]]`` directive or queued through ``POST /_sim/faults``.

======================  =================================================================================
``429``                 HTTP 429 ``rate_limit_exceeded`` before anything is streamed
``quota``               HTTP 429 ``insufficient_quota``
``500``                 HTTP 500 ``server_error``
``401``                 HTTP 401 ``invalid_api_key``
``cut``                 a few deltas, then the connection is dropped with no terminal event
``stall``               a few deltas, then silence until the client goes away (or the run/response is
                        cancelled)
``failed``              a few deltas, then ``response.failed`` / ``thread.run.failed`` with ``server_error``
                        (chat completions: an error object inside the stream)
``run_rate_limit``      ``response.failed`` / ``thread.run.failed`` with ``rate_limit_exceeded`` before
                        any delta (chat completions: an error object inside the stream)
======================  =================================================================================

The deletes of conversations and threads take the HTTP kinds (``429``, ``quota``, ``500``, ``401``),
queued apart (``POST /_sim/faults`` ``{"deletes": [...]}``): :func:`delete_fault`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from proxy.simulator.errors import APIError

__all__ = (
    "CUT_FAILURE",
    "FAULT_AFTER_DELTAS",
    "FAULT_KINDS",
    "HTTP_FAULT_KINDS",
    "RATE_LIMITED",
    "SERVER_ERROR",
    "FaultQueue",
    "RunFailure",
    "delete_fault",
    "http_fault",
    "run_failure",
)

FAULT_KINDS: Final = frozenset({"429", "quota", "500", "401", "cut", "stall", "failed", "run_rate_limit"})
FAULT_AFTER_DELTAS: Final = 3
"""How many deltas ``cut``, ``stall`` and ``failed`` let through first."""

_HTTP_FAULTS: Final = {
    "429": lambda: APIError(
        429,
        "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
        type="requests",
        code="rate_limit_exceeded",
    ),
    "quota": lambda: APIError(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        type="insufficient_quota",
        code="insufficient_quota",
    ),
    "500": lambda: APIError(
        500, "The server had an error while processing your request. Sorry about that!", type="server_error"
    ),
    "401": lambda: APIError(401, "Incorrect API key provided.", code="invalid_api_key"),
}


HTTP_FAULT_KINDS: Final = frozenset(_HTTP_FAULTS)


def http_fault(kind: str | None) -> APIError | None:
    """The error answered instead of the request, for the faults that are an HTTP status."""
    factory = _HTTP_FAULTS.get(kind) if kind else None
    return factory() if factory else None


@dataclass(frozen=True, slots=True)
class RunFailure:
    """Why a response or run the model gives up on failed, as ``error`` / ``last_error`` tell it."""

    code: str
    message: str


SERVER_ERROR: Final = RunFailure("server_error", "Sorry, something went wrong.")
RATE_LIMITED: Final = RunFailure(
    "rate_limit_exceeded", "Rate limit reached for tokens per min (TPM). Please try again in 20s."
)


CUT_FAILURE: Final = RunFailure("server_error", "The response stream was interrupted.")
_FAILURES: Final = {"failed": SERVER_ERROR, "run_rate_limit": RATE_LIMITED, "cut": CUT_FAILURE}


def run_failure(kind: str | None) -> RunFailure | None:
    """How a ``failed``, ``run_rate_limit`` or ``cut`` fault leaves the response or run it hits."""
    return _FAILURES.get(kind) if kind else None


class FaultQueue:
    """Faults for the next model calls (or deletes: ``known``), first in first out."""

    __slots__ = ("_known", "_pending")

    def __init__(self, known: frozenset[str] = FAULT_KINDS) -> None:
        self._known = known
        self._pending: deque[str] = deque()

    def check(self, kinds: Iterable[str]) -> None:
        """Raise ``ValueError`` naming the kinds this queue does not know."""
        if unknown := [kind for kind in kinds if kind not in self._known]:
            raise ValueError(f"unknown fault kinds {unknown}; known: {sorted(self._known)}")

    def push(self, kinds: Iterable[str]) -> None:
        kinds = list(kinds)
        self.check(kinds)
        self._pending.extend(kinds)

    def pop(self) -> str | None:
        return self._pending.popleft() if self._pending else None

    def pending(self) -> list[str]:
        return list(self._pending)

    def clear(self) -> None:
        self._pending.clear()


def delete_fault(queue: FaultQueue) -> None:
    """Raise the error of the next delete fault queued, if there is one."""
    if error := http_fault(queue.pop()):
        raise error
