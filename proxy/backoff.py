"""Waiting between retries: exponential growth from a first delay, a cap, and jitter.

One shape for every retry in the service (database writes, the LISTEN connection, the mail outbox,
Stripe reads, provider copies): the delay before retry ``n`` (counted from 0) is
``min(first * 2**n, cap)``, shortened by a random fraction of at most ``jitter`` so that callers
failing together (a database restart, an SMTP outage) do not retry in lockstep. The jitter only
shortens, so ``cap`` is a true upper bound.
"""

from __future__ import annotations

import random

import anyio

__all__ = ("DEFAULT_CAP", "DEFAULT_FIRST", "DEFAULT_JITTER", "Backoff", "backoff_delay")

DEFAULT_FIRST = 0.05  # seconds before the first retry of a database write
DEFAULT_CAP = 2.0  # the longest wait between two such retries
DEFAULT_JITTER = 0.5  # each wait is cut by up to half, at random
_MAX_DOUBLINGS = 64  # 2**64 times any first delay is past every cap; larger exponents overflow floats


def backoff_delay(attempt: int, *, first: float, cap: float, jitter: float = DEFAULT_JITTER) -> float:
    """Seconds to wait before retry ``attempt`` (0 for the first retry); 0 when ``first`` is 0."""
    if first <= 0:
        return 0.0
    ceiling = min(first * 2.0 ** min(max(attempt, 0), _MAX_DOUBLINGS), cap)
    return ceiling * (1.0 - jitter * random.random())  # jitter, not cryptography


class Backoff:
    """Waits between attempts of a piece of work that should succeed within ``within`` seconds in
    all (a write that met a busy or briefly absent database)::

        backoff = Backoff(5.0)
        while True:
            try:
                return await write()
            except OperationalError:
                if backoff.exhausted():
                    raise
                await backoff.wait()
    """

    def __init__(
        self,
        within: float,
        *,
        first: float = DEFAULT_FIRST,
        ceiling: float = DEFAULT_CAP,
        jitter: float = DEFAULT_JITTER,
    ) -> None:
        self.deadline = anyio.current_time() + within
        self.first, self.ceiling, self.jitter = first, ceiling, jitter
        self.attempt = 0

    @property
    def delay(self) -> float:
        """The longest the next wait may be (before jitter)."""
        return min(self.first * 2.0 ** min(self.attempt, _MAX_DOUBLINGS), self.ceiling)

    def remaining(self) -> float:
        return self.deadline - anyio.current_time()

    def exhausted(self) -> bool:
        """True when the next wait could end past the deadline."""
        return self.delay > self.remaining()

    async def wait(self) -> None:
        await anyio.sleep(backoff_delay(self.attempt, first=self.first, cap=self.ceiling, jitter=self.jitter))
        self.attempt += 1
