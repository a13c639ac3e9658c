"""Asking without counting, and the failed-authentication throttle, over both backends."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from proxy.limits.limiter import RateLimited, RateLimiter
from proxy.limits.settings import LimitSettings
from tests.unit.limits.test_limiter import Clock, tenant

Opener = Callable[[Clock], AbstractAsyncContextManager[RateLimiter]]


@pytest.fixture(params=["memory", "redis"])
def open_limiter(request: pytest.FixtureRequest) -> Opener:
    options = {"key_prefix": f"test:{uuid.uuid4().hex[:8]}:", "auth_failures_per_ip": 3}
    if request.param == "redis":
        options["redis_url"] = request.getfixturevalue("redis_url")
    settings = LimitSettings(_env_file=None, **options)  # type: ignore[arg-type]

    @asynccontextmanager
    async def opener(clock: Clock) -> AsyncIterator[RateLimiter]:
        async with RateLimiter.open(settings, clock=clock) as limiter:
            yield limiter

    return opener


async def test_asking_counts_nothing(open_limiter: Opener) -> None:
    t = tenant(messages_per_minute_per_visitor=0, messages_per_minute_per_ip=0, messages_per_minute_per_tenant=2)
    async with open_limiter(Clock()) as limiter:

        async def check(count: bool) -> None:
            await limiter.check(
                tenant=t.config, visitor=None, client_ip="192.0.2.1", action="message", scopes=("tenant",), count=count
            )

        for _ in range(10):
            await check(False)  # as often as you like: nothing is spent
        await check(True)
        await check(True)
        with pytest.raises(RateLimited) as full:
            await check(False)
        assert full.value.scope == "tenant"


async def test_failed_authentication_is_throttled_per_address(open_limiter: Opener) -> None:
    clock = Clock()
    async with open_limiter(clock) as limiter:
        for _ in range(3):
            await limiter.check_auth("198.51.100.7")
            await limiter.auth_failed("198.51.100.7")
        with pytest.raises(RateLimited) as throttled:
            await limiter.check_auth("198.51.100.7")
        assert throttled.value.scope == "auth" and throttled.value.retry_after > 0
        await limiter.check_auth("198.51.100.8")  # another address is not affected
        clock.advance(2 * 300)
        await limiter.check_auth("198.51.100.7")  # the window has passed
