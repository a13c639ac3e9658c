"""Where the counters live: process memory, or Redis shared by every worker and machine.

Both keep a *sliding window counter* per key: the count of the current fixed window plus the
previous window's count weighted by how much of it still overlaps the sliding window. That is two
integers per key (not one entry per request), smooths the burst a fixed window allows at its
edge, and gives an exact time at which the next request fits, for ``Retry-After``.

A check covers several keys at once (visitor, IP, tenant) and is all-or-nothing: if any key is
full nothing is counted. Denied requests are not counted, so one visitor hammering away cannot use
up the tenant-wide allowance of everyone else, and a client that waits ``Retry-After`` gets in.

Litestar's stores are not used: neither ``MemoryStore`` nor ``RedisStore`` has an atomic
increment, and a read-then-write through them would let concurrent workers overshoot.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Scope = Literal["visitor", "ip", "tenant", "auth"]
Clock = Callable[[], float]

_EPSILON = 1e-9
SWEEP_EVERY = 60.0  # seconds between sweeps of expired counters out of process memory


@dataclass(frozen=True, slots=True)
class Rule:
    """At most ``limit`` hits per ``window`` seconds on ``key``; ``scope`` names it to the caller."""

    scope: Scope
    key: str
    limit: int
    window: float


@dataclass(frozen=True, slots=True)
class Denial:
    scope: Scope
    retry_after: float  # seconds until this request would fit


def wait_time(prev: float, curr: float, limit: int, window: float, elapsed: float) -> float:
    """Seconds until one more hit fits, or 0 if it fits now.

    ``elapsed`` is the time since the current fixed window began. The estimate is
    ``prev * (1 - elapsed / window) + curr``; it must leave room for one more hit.
    """
    if prev * (1 - elapsed / window) + curr + 1 <= limit + _EPSILON:
        return 0.0
    if curr + 1 <= limit:  # the previous window's weight must fade a little more
        return max(0.0, window * (1 - (limit - 1 - curr) / prev) - elapsed)
    # the current window alone is full: wait for the next one, then for this one's weight to fade
    return (window - elapsed) + window * (1 - (limit - 1) / curr)


class LimitBackend(Protocol):
    async def acquire(self, rules: Sequence[Rule], *, count: bool = True) -> Denial | None:
        """Count one hit on every rule, or on none and say which rule refused (the longest wait).

        ``count=False`` only asks: would one more hit fit? Nothing is counted either way.
        """
        ...

    async def aclose(self) -> None: ...


class MemoryBackend:
    """Counters in this process: right for one worker, or for tests.

    No lock is needed: a check never awaits between reading and writing, so on one event loop it
    runs as one step. Expired keys are swept now and then, so the dict only holds active callers.
    """

    def __init__(self, clock: Clock = time.time, *, sweep_every: float = SWEEP_EVERY) -> None:
        self.clock = clock
        self._counters: dict[str, tuple[int, int, int, float]] = {}  # key -> (bucket, curr, prev, window)
        self._sweep_every = sweep_every
        self._next_sweep = clock() + sweep_every

    async def acquire(self, rules: Sequence[Rule], *, count: bool = True) -> Denial | None:
        now = self.clock()
        if now >= self._next_sweep:
            self._sweep(now)
        counters = self._counters
        worst: Rule | None = None
        worst_wait = 0.0
        updates: list[tuple[str, tuple[int, int, int, float]]] = []
        for rule in rules:
            window = rule.window
            bucket = math.floor(now / window)
            curr, prev = 0, 0
            stored = counters.get(rule.key)
            if stored is not None:
                stored_bucket, stored_curr, stored_prev, _ = stored
                if stored_bucket == bucket:
                    curr, prev = stored_curr, stored_prev
                elif stored_bucket == bucket - 1:
                    prev = stored_curr
                elif stored_bucket > bucket:  # the clock went back: stay in the newer window
                    bucket, curr, prev = stored_bucket, stored_curr, stored_prev
            elapsed = now - bucket * window
            wait = wait_time(prev, curr, rule.limit, window, elapsed if elapsed > 0 else 0.0)
            if wait > worst_wait:
                worst, worst_wait = rule, wait
            updates.append((rule.key, (bucket, curr + 1, prev, window)))
        if worst is not None:
            return Denial(worst.scope, worst_wait)
        if count:
            counters.update(updates)
        return None

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self._sweep_every
        stale = [key for key, (bucket, _, _, window) in self._counters.items() if bucket < math.floor(now / window) - 1]
        for key in stale:
            del self._counters[key]

    def __len__(self) -> int:
        return len(self._counters)

    async def aclose(self) -> None:
        self._counters.clear()


# KEYS: one hash per rule. ARGV[1]: now in seconds ("" = Redis' own clock), then limit, window per rule,
# then "1" to only ask (count nothing). Returns {0, "0"} when counted (or when it would fit), else
# {index of the refusing rule (1-based), seconds to wait}.
_ACQUIRE = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local state = {}
local worst, worst_wait = 0, 0
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local bucket = math.floor(now / window)
  local stored = redis.call('HMGET', KEYS[i], 'b', 'c', 'p')
  local sb = tonumber(stored[1])
  local curr, prev = 0, 0
  if sb ~= nil then
    if sb == bucket then curr, prev = tonumber(stored[2]) or 0, tonumber(stored[3]) or 0
    elseif sb == bucket - 1 then prev = tonumber(stored[2]) or 0
    elseif sb > bucket then bucket, curr, prev = sb, tonumber(stored[2]) or 0, tonumber(stored[3]) or 0
    end
  end
  local elapsed = math.max(0, now - bucket * window)
  local wait = 0
  if prev * (1 - elapsed / window) + curr + 1 > limit + 1e-9 then
    if curr + 1 <= limit then
      wait = math.max(0, window * (1 - (limit - 1 - curr) / prev) - elapsed)
    else
      wait = (window - elapsed) + window * (1 - (limit - 1) / curr)
    end
  end
  if wait > worst_wait then worst, worst_wait = i, wait end
  state[i] = {bucket, curr, prev, window}
end
if worst > 0 or ARGV[2 * #KEYS + 2] == "1" then return {worst, tostring(worst_wait)} end
for i = 1, #KEYS do
  local s = state[i]
  redis.call('HSET', KEYS[i], 'b', string.format('%d', s[1]), 'c', s[2] + 1, 'p', s[3])
  redis.call('PEXPIRE', KEYS[i], math.ceil(s[4] * 2000))
end
return {0, '0'}
"""


class RedisBackend:
    """Counters in Redis, updated by one Lua script per check, so workers and machines agree.

    The window is read from Redis' clock unless a clock is injected (tests), so servers whose
    clocks drift apart still share one window. Keys expire two windows after their last hit.
    """

    def __init__(self, client: Any, clock: Clock | None = None, *, owns_client: bool = True) -> None:
        self.client = client
        self.clock = clock
        self._script = client.register_script(_ACQUIRE)
        self._owns_client = owns_client

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 0.5, clock: Clock | None = None) -> RedisBackend:
        from redis.asyncio import Redis  # only deployments with REDIS_URL need the package

        client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True)
        return cls(client, clock)

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def acquire(self, rules: Sequence[Rule], *, count: bool = True) -> Denial | None:
        if not rules:
            return None
        now = "" if self.clock is None else repr(float(self.clock()))
        args: list[str] = [now]
        for rule in rules:
            args += [str(rule.limit), repr(float(rule.window))]
        args.append("0" if count else "1")
        index, wait = await self._script(keys=[rule.key for rule in rules], args=args)
        index = int(index)
        if index == 0:
            return None
        return Denial(rules[index - 1].scope, float(wait))

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()
