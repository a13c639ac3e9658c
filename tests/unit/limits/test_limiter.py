"""The limiter over both backends: windows, Retry-After, scopes, and one count across instances."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from proxy.limits.backends import MemoryBackend, RedisBackend, Rule, wait_time
from proxy.limits.limiter import RateLimited, RateLimiter, ip_key, rate_limited_error
from proxy.limits.settings import LimitSettings
from tests.support.apps import make_tenant


class Clock:
    """A clock the test moves by hand; starts at the beginning of a minute (and of an hour)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def tenant(name: str | None = None, **limits: int):  # type: ignore[no-untyped-def]
    name = name or f"t{uuid.uuid4().hex[:10]}"
    return make_tenant(name, [f"{name}.test"], limits=limits)


Opener = Callable[[Clock], AbstractAsyncContextManager[RateLimiter]]


@pytest.fixture(params=["memory", "redis"])
def open_limiter(request: pytest.FixtureRequest) -> Opener:
    """Opens a limiter on the given clock; every limiter of one test shares one Redis key space."""
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    if request.param == "memory":
        settings = LimitSettings(_env_file=None, key_prefix=prefix)  # type: ignore[call-arg]
    else:
        url = request.getfixturevalue("redis_url")
        settings = LimitSettings(_env_file=None, redis_url=url, key_prefix=prefix)  # type: ignore[call-arg]

    @asynccontextmanager
    async def opener(clock: Clock) -> AsyncIterator[RateLimiter]:
        async with RateLimiter.open(settings, clock=clock) as limiter:
            yield limiter

    return opener


async def send(limiter: RateLimiter, t, visitor: str | None = "v:alice", ip: str = "203.0.113.9") -> None:  # type: ignore[no-untyped-def]
    await limiter.check(tenant=t.config, visitor=visitor, client_ip=ip, action="message")


async def test_visitor_limit_then_retry_after_then_through(open_limiter: Opener) -> None:
    clock = Clock()
    t = tenant(messages_per_minute_per_visitor=3, messages_per_minute_per_ip=0, messages_per_minute_per_tenant=0)
    async with open_limiter(clock) as limiter:
        for _ in range(3):
            await send(limiter, t)
            clock.advance(1)
        with pytest.raises(RateLimited) as refused:
            await send(limiter, t)
        assert refused.value.scope == "visitor"
        # three hits in this minute: the next fits once the window rolls over and its weight fades by 1/3
        assert refused.value.retry_after == 57 + 20
        clock.advance(refused.value.retry_after - 1)
        with pytest.raises(RateLimited):
            await send(limiter, t)
        clock.advance(1)
        await send(limiter, t)


async def test_refused_requests_are_not_counted(open_limiter: Opener) -> None:
    clock = Clock()
    t = tenant(messages_per_minute_per_visitor=2, messages_per_minute_per_ip=0, messages_per_minute_per_tenant=5)
    async with open_limiter(clock) as limiter:
        await send(limiter, t, "v:greedy")
        await send(limiter, t, "v:greedy")
        for _ in range(20):  # hammering the visitor limit must not use up the tenant's allowance
            with pytest.raises(RateLimited):
                await send(limiter, t, "v:greedy")
        for i in range(3):
            await send(limiter, t, f"v:other{i}")
        with pytest.raises(RateLimited) as refused:
            await send(limiter, t, "v:last")
        assert refused.value.scope == "tenant"


async def test_scopes_have_their_own_keys(open_limiter: Opener) -> None:
    clock = Clock()
    t = tenant(messages_per_minute_per_visitor=1, messages_per_minute_per_ip=2, messages_per_minute_per_tenant=0)
    other = tenant(messages_per_minute_per_visitor=1, messages_per_minute_per_ip=2, messages_per_minute_per_tenant=0)
    async with open_limiter(clock) as limiter:
        await send(limiter, t, "v:a", "198.51.100.1")
        await send(limiter, t, "v:b", "198.51.100.1")  # another visitor on the same address
        with pytest.raises(RateLimited) as refused:
            await send(limiter, t, "v:c", "198.51.100.1")
        assert refused.value.scope == "ip"
        with pytest.raises(RateLimited) as refused:
            await send(limiter, t, "v:a", "198.51.100.2")
        assert refused.value.scope == "visitor"
        await send(limiter, t, "v:d", "198.51.100.2")  # new visitor, new address
        await send(limiter, other, "v:a", "198.51.100.1")  # another tenant counts apart


async def test_ipv6_addresses_of_one_network_share_a_count(open_limiter: Opener) -> None:
    clock = Clock()
    t = tenant(messages_per_minute_per_visitor=0, messages_per_minute_per_ip=2, messages_per_minute_per_tenant=0)
    async with open_limiter(clock) as limiter:
        await send(limiter, t, None, "2001:db8:1:2::1")
        await send(limiter, t, None, "2001:db8:1:2:ffff::9")
        with pytest.raises(RateLimited):
            await send(limiter, t, None, "2001:db8:1:2::abcd")
        await send(limiter, t, None, "2001:db8:1:3::1")


async def test_threads_per_hour_per_ip(open_limiter: Opener) -> None:
    clock = Clock()
    t = tenant(threads_per_hour_per_ip=2)
    async with open_limiter(clock) as limiter:
        for _ in range(2):
            await limiter.check(tenant=t.config, visitor="v:x", client_ip="203.0.113.5", action="thread")
        with pytest.raises(RateLimited) as refused:
            await limiter.check(tenant=t.config, visitor="v:y", client_ip="203.0.113.5", action="thread")
        assert (refused.value.scope, refused.value.action) == ("ip", "thread")
        assert 3600 < refused.value.retry_after <= 7200
        # messages are counted apart from threads; a client key is not limited per address
        await limiter.check(tenant=t.config, visitor="v:x", client_ip="203.0.113.5", action="message")
        await limiter.check(
            tenant=t.config, visitor=None, client_ip="203.0.113.5", action="thread", via_client_key=True
        )


async def test_zero_switches_a_limit_off(open_limiter: Opener) -> None:
    clock = Clock()
    t = tenant(messages_per_minute_per_visitor=0, messages_per_minute_per_ip=0, messages_per_minute_per_tenant=0)
    async with open_limiter(clock) as limiter:
        for _ in range(100):
            await send(limiter, t)


async def test_sliding_window_blends_the_previous_minute(open_limiter: Opener) -> None:
    clock = Clock()
    t = tenant(messages_per_minute_per_visitor=10, messages_per_minute_per_ip=0, messages_per_minute_per_tenant=0)
    async with open_limiter(clock) as limiter:
        for _ in range(10):
            await send(limiter, t)
        clock.advance(60 + 30)  # half-way through the next minute: half of the 10 still count
        for _ in range(5):
            await send(limiter, t)
        with pytest.raises(RateLimited):
            await send(limiter, t)
        clock.advance(60)  # two windows later only the 5 of the last minute weigh, fading
        await send(limiter, t)


async def test_two_limiters_on_one_redis_see_one_count(redis_url: str) -> None:
    clock = Clock()
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    settings = LimitSettings(_env_file=None, redis_url=redis_url, key_prefix=prefix)  # type: ignore[call-arg]
    t = tenant(messages_per_minute_per_visitor=4, messages_per_minute_per_ip=0, messages_per_minute_per_tenant=0)
    async with RateLimiter.open(settings, clock=clock) as first, RateLimiter.open(settings, clock=clock) as second:
        await send(first, t)
        await send(second, t)
        await send(first, t)
        await send(second, t)
        for limiter in (first, second):
            with pytest.raises(RateLimited):
                await send(limiter, t)


async def test_redis_uses_its_own_clock_by_default(redis_url: str) -> None:
    settings = LimitSettings(_env_file=None, redis_url=redis_url, key_prefix=f"test:{uuid.uuid4().hex[:8]}:")  # type: ignore[call-arg]
    t = tenant(messages_per_minute_per_visitor=1, messages_per_minute_per_ip=0, messages_per_minute_per_tenant=0)
    async with RateLimiter.open(settings) as limiter:
        await send(limiter, t)
        with pytest.raises(RateLimited) as refused:
            await send(limiter, t)
        assert 60 <= refused.value.retry_after <= 120


async def test_redis_keys_expire(redis_url: str) -> None:
    from redis.asyncio import Redis

    backend = RedisBackend(Redis.from_url(redis_url, decode_responses=True), Clock())
    key = f"test:{uuid.uuid4().hex}"
    try:
        assert await backend.acquire([Rule("ip", key, 5, 60.0)]) is None
        ttl = await backend.client.pttl(key)
        assert 0 < ttl <= 120_000
    finally:
        await backend.aclose()


async def test_unreachable_redis_fails_open_or_closed() -> None:
    from tests.support.redis_server import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    t = tenant(messages_per_minute_per_visitor=1)
    settings = LimitSettings(_env_file=None, redis_url=url, redis_timeout=0.2)  # type: ignore[call-arg]
    async with RateLimiter.open(settings) as limiter:
        await send(limiter, t)
        await send(limiter, t)
    closed = LimitSettings(_env_file=None, redis_url=url, redis_timeout=0.2, fail_open=False)  # type: ignore[call-arg]
    async with RateLimiter.open(closed) as limiter:
        with pytest.raises(Exception) as failure:
            await send(limiter, t)
        assert not isinstance(failure.value, RateLimited)


async def test_switched_off_limiter_allows_everything() -> None:
    settings = LimitSettings(_env_file=None, enabled=False)  # type: ignore[call-arg]
    t = tenant(messages_per_minute_per_visitor=1)
    async with RateLimiter.open(settings) as limiter:
        assert limiter.backend is None
        for _ in range(5):
            await send(limiter, t)


async def test_memory_backend_sweeps_idle_keys() -> None:
    clock = Clock()
    backend = MemoryBackend(clock, sweep_every=10)
    for i in range(50):
        await backend.acquire([Rule("ip", f"k{i}", 5, 60.0)])
    assert len(backend) == 50
    clock.advance(180)
    await backend.acquire([Rule("ip", "fresh", 5, 60.0)])
    assert len(backend) == 1


def test_rate_limited_error_is_the_429_body() -> None:
    error = rate_limited_error(RateLimited("visitor", 12.2))
    assert error.status_code == 429
    assert error.code == "rate_limited"
    assert error.headers == {"Retry-After": "13"}
    assert error.extra == {"scope": "visitor", "retry_after": 13}
    assert "too quickly" in error.detail


def test_retry_after_is_at_least_one_second() -> None:
    assert RateLimited("tenant", 0.01).retry_after == 1
    assert RateLimited("tenant", 3.0).retry_after == 3


@pytest.mark.parametrize(
    ("prev", "curr", "limit", "elapsed", "expected"),
    [
        (0, 0, 1, 0, 0.0),
        (0, 1, 1, 10, 50 + 60),  # full now; after the roll-over the old hit fades over a whole window
        (10, 0, 10, 30, 0.0),  # 10 * 0.5 + 0 + 1 <= 10: fits now
        (10, 5, 10, 30, 60 * (1 - 4 / 10) - 30),  # fits once prev's weight is down to 4
    ],
)
def test_wait_time(prev: int, curr: int, limit: int, elapsed: float, expected: float) -> None:
    assert wait_time(prev, curr, limit, 60.0, elapsed) == pytest.approx(expected)


def test_ip_key() -> None:
    assert ip_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert ip_key("2001:db8::1", 128) == "2001:db8::1"
    assert ip_key("2001:db8:1:2a3b:3:4:5:6", 56) == "2001:db8:1:2a00::/56"
    assert ip_key("2001:db8:1:2a3b:3:4:5:6", 48) == "2001:db8:1::/48"
    assert ip_key("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 127) == "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe/127"
    assert ip_key("::", 64) == "::/64"
    assert ip_key("203.0.113.9") == "203.0.113.9"
    assert ip_key("testclient") == "testclient"


async def test_changed_limits_apply_to_callers_already_checked() -> None:
    """The rules a caller was checked against are kept, but a tenant's new limits replace them."""
    clock = Clock()
    t = tenant(messages_per_minute_per_visitor=2)
    async with RateLimiter.open(LimitSettings(_env_file=None), clock=clock) as limiter:  # type: ignore[call-arg]
        await send(limiter, t)
        await send(limiter, t)
        with pytest.raises(RateLimited):
            await send(limiter, t)
        looser = t.config.model_copy(
            update={"limits": t.config.limits.model_copy(update={"messages_per_minute_per_visitor": 5})}
        )
        await limiter.check(tenant=looser, visitor="v:alice", client_ip="203.0.113.9", action="message")


async def test_scopes_narrow_the_kept_rules_per_check() -> None:
    """A check of some scopes counts only those, before and after the caller's rules are kept."""
    clock = Clock()
    t = tenant(messages_per_minute_per_visitor=1, messages_per_minute_per_tenant=3)
    async with RateLimiter.open(LimitSettings(_env_file=None), clock=clock) as limiter:  # type: ignore[call-arg]
        for _ in range(2):  # the tenant-wide rule alone: the visitor's is not counted
            await limiter.check(
                tenant=t.config, visitor="v:bob", client_ip="203.0.113.7", action="message", scopes=("tenant",)
            )
        await limiter.check(
            tenant=t.config, visitor="v:bob", client_ip="203.0.113.7", action="message", scopes=("visitor",)
        )
        with pytest.raises(RateLimited) as refused:
            await limiter.check(
                tenant=t.config, visitor="v:bob", client_ip="203.0.113.7", action="message", scopes=("visitor",)
            )
        assert refused.value.scope == "visitor"
        await limiter.check(
            tenant=t.config, visitor="v:carol", client_ip="203.0.113.8", action="message", scopes=("tenant",)
        )
        with pytest.raises(RateLimited) as full:
            await limiter.check(
                tenant=t.config, visitor="v:dave", client_ip="203.0.113.8", action="message", scopes=("tenant",)
            )
        assert full.value.scope == "tenant"


async def test_kept_rules_stay_per_tenant_visitor_and_address() -> None:
    """Rules kept for one caller's checks never count another tenant, visitor or address's requests."""
    clock = Clock()
    strict = tenant(threads_per_hour_per_ip=1, messages_per_minute_per_visitor=1, messages_per_minute_per_tenant=2)
    loose = tenant(threads_per_hour_per_ip=2, messages_per_minute_per_visitor=2, messages_per_minute_per_tenant=3)
    async with RateLimiter.open(LimitSettings(_env_file=None), clock=clock) as limiter:  # type: ignore[call-arg]
        for t in (strict, loose):  # a thread each from one address: the loose tenant allows a second
            await limiter.check(tenant=t.config, visitor="v:alice", client_ip="203.0.113.7", action="thread")
        with pytest.raises(RateLimited) as refused:
            await limiter.check(tenant=strict.config, visitor="v:bob", client_ip="203.0.113.7", action="thread")
        assert refused.value.scope == "ip"
        await limiter.check(tenant=strict.config, visitor="v:bob", client_ip="203.0.113.8", action="thread")
        await limiter.check(tenant=loose.config, visitor="v:bob", client_ip="203.0.113.7", action="thread")

        own = ("visitor", "ip")
        for t in (strict, loose):
            for who in ("v:alice", "v:bob"):  # each visitor's own counter, whoever was checked before
                await limiter.check(tenant=t.config, visitor=who, client_ip="203.0.113.7", action="message", scopes=own)
        with pytest.raises(RateLimited) as refused:
            await limiter.check(
                tenant=strict.config, visitor="v:alice", client_ip="203.0.113.9", action="message", scopes=own
            )
        assert refused.value.scope == "visitor"
        await limiter.check(
            tenant=loose.config, visitor="v:alice", client_ip="203.0.113.9", action="message", scopes=own
        )

        wide = ("tenant",)
        for t, room in ((strict, 2), (loose, 3)):  # each tenant's own tenant-wide allowance
            for i in range(room):
                await limiter.check(
                    tenant=t.config, visitor=f"v:x{i}", client_ip=f"198.51.100.{i}", action="message", scopes=wide
                )
            with pytest.raises(RateLimited) as full:
                await limiter.check(
                    tenant=t.config, visitor="v:late", client_ip="198.51.100.99", action="message", scopes=wide
                )
            assert full.value.scope == "tenant"


async def test_a_client_keys_checks_and_a_visitors_from_the_same_address_are_kept_apart() -> None:
    """A server-side client is not counted by its address; a visitor from that address still is,
    before and after the client's rules were kept."""
    clock = Clock()
    t = tenant(messages_per_minute_per_ip=1, messages_per_minute_per_visitor=10)
    async with RateLimiter.open(LimitSettings(_env_file=None), clock=clock) as limiter:  # type: ignore[call-arg]
        for _ in range(3):
            await limiter.check(
                tenant=t.config, visitor="v:server", client_ip="203.0.113.5", action="message", via_client_key=True
            )
        await limiter.check(tenant=t.config, visitor="v:ann", client_ip="203.0.113.5", action="message")
        with pytest.raises(RateLimited) as refused:
            await limiter.check(tenant=t.config, visitor="v:ben", client_ip="203.0.113.5", action="message")
        assert refused.value.scope == "ip"
        await limiter.check(
            tenant=t.config, visitor="v:server", client_ip="203.0.113.5", action="message", via_client_key=True
        )
        assert [
            rule.scope
            for rule in limiter.rules(
                tenant=t.config, visitor="v:server", client_ip="203.0.113.5", action="message", via_client_key=True
            )
        ] == ["visitor", "tenant"]
