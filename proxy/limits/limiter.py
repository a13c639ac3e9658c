"""``RateLimiter``: may this caller start a thread or send a message now?

The API calls :meth:`RateLimiter.check` before it does any work for a request; a refusal is a
:class:`RateLimited` carrying the scope that refused and the seconds to wait, which
:func:`rate_limited_error` turns into the 429 the widget understands. Limits are per tenant (from
its ``[limits]`` section), so one site's traffic never counts against another's.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import time
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal

from proxy.errors import ProxyError
from proxy.limits.backends import Clock, LimitBackend, MemoryBackend, RedisBackend, Rule, Scope
from proxy.limits.client_ip import client_ip as resolve_client_ip
from proxy.limits.client_ip import forwarded_headers, peer_host, resolve
from proxy.limits.settings import LimitSettings, TrustedProxies

if TYPE_CHECKING:
    from proxy.api.errors import ApiError
    from proxy.limits.config import LimitsConfig
    from proxy.tenants import TenantConfig

logger = logging.getLogger(__name__)

Action = Literal["thread", "message"]

MINUTE = 60.0
HOUR = 3600.0

_MESSAGES = {
    "visitor": "You are sending messages too quickly. Please wait a moment.",
    "ip": "Too many messages from your network. Please wait a moment.",
    "tenant": "This assistant is very busy right now. Please try again shortly.",
}
_THREADS = "Too many new conversations from your network. Please try again later."
_AUTH = "Too many failed attempts to authenticate from your network. Please try again later."
AUTH_WINDOW = 300.0  # seconds over which failed authentications are counted
RULES_KEPT = 4096  # callers whose rules are kept (all are forgotten when full: rebuilt on their next check)
ADDRESSES_KEPT = 4096  # (peer, X-Forwarded-For) pairs whose client address is kept, likewise
FORWARDED_KEPT_BYTES = 512  # longer X-Forwarded-For headers are resolved each time, not kept
_CLIENT_IP = "proxy.client_ip"  # the request's address as the limiter resolved it, in the ASGI scope


class RateLimited(ProxyError):
    """The caller is over a limit; ``retry_after`` is whole seconds (at least 1)."""

    code = "rate_limited"
    status = 429
    public = True

    def __init__(self, scope: Scope, retry_after: float, action: Action = "message") -> None:
        self.scope = scope
        self.retry_after = max(1, math.ceil(retry_after - 1e-6))
        self.action = action
        super().__init__(
            _AUTH if scope == "auth" else _THREADS if action == "thread" else _MESSAGES[scope],
            headers={"Retry-After": str(self.retry_after)},
            extra={"scope": scope, "retry_after": self.retry_after},
        )


def rate_limited_error(exc: RateLimited) -> ApiError:
    """The 429 for a refusal: ``Retry-After`` header and ``{"error": {code, message, scope, retry_after}}``."""
    from proxy.api.errors import ApiError

    return ApiError.from_error(exc)


@functools.lru_cache(maxsize=4096)  # a parse each call otherwise (~10 µs), several calls a request
def ip_key(ip: str, ipv6_prefix: int = 64) -> str:
    """IPv6 clients are counted per network: one host easily owns a whole /64 and rotates in it."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and ipv6_prefix < 128:
        # the network's address by masking the integer: no second parse of the text (~20 µs less)
        host_bits = 128 - ipv6_prefix
        return f"{ipaddress.IPv6Address(int(address) >> host_bits << host_bits)}/{ipv6_prefix}"
    return str(address)


class RateLimiter:
    """Checks the tenant's limits for one request against a :class:`LimitBackend`."""

    def __init__(
        self,
        backend: LimitBackend | None,
        *,
        trusted_proxies: TrustedProxies | None = None,
        key_prefix: str = "proxy:rl:",
        ipv6_prefix: int = 64,
        fail_open: bool = True,
        auth_failures: int = 0,
    ) -> None:
        self.backend = backend  # None: limits switched off (PROXY_RATE_LIMITS=false)
        self.auth_failures = auth_failures  # per address per AUTH_WINDOW; 0: not throttled
        self.trusted_proxies = trusted_proxies or TrustedProxies()
        self.key_prefix = key_prefix
        self.ipv6_prefix = ipv6_prefix
        self.fail_open = fail_open
        self._quiet_until = 0.0
        # (tenant, visitor, address, action, scopes) -> (the tenant's limits, its rules): see ``rules``
        self._rules: dict[tuple[Any, ...], tuple[LimitsConfig, tuple[Rule, ...]]] = {}
        # (peer, X-Forwarded-For headers) -> (the trusted proxies it was resolved with, the address)
        self._addresses: dict[tuple[str, tuple[bytes, ...]], tuple[TrustedProxies, str]] = {}

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: LimitSettings | None = None, *, clock: Clock | None = None
    ) -> AsyncIterator[RateLimiter]:
        """The limiter for this process: Redis when ``REDIS_URL`` is set, else memory."""
        settings = settings or LimitSettings()
        backend: LimitBackend | None = None
        if settings.enabled and settings.redis_url:
            redis_backend = RedisBackend.from_url(settings.redis_url, timeout=settings.redis_timeout, clock=clock)
            try:
                await redis_backend.ping()
            except Exception as exc:  # start anyway: checks fail open (or closed) like any later outage
                logger.warning("rate limiter: Redis at REDIS_URL is not reachable yet: %s", exc)
            backend = redis_backend
        elif settings.enabled:
            backend = MemoryBackend(clock or time.time)
        limiter = cls(
            backend,
            trusted_proxies=settings.trusted_proxies,
            key_prefix=settings.key_prefix,
            ipv6_prefix=settings.ipv6_prefix,
            fail_open=settings.fail_open,
            auth_failures=settings.auth_failures_per_ip,
        )
        try:
            yield limiter
        finally:
            if backend is not None:
                await backend.aclose()

    def client_ip(self, request_or_scope: Any) -> str:
        """The caller's address, believing ``X-Forwarded-For`` only from ``PROXY_TRUSTED_PROXIES``.

        Worked out once per request (kept in its ASGI scope): a message is checked against the
        limits three times, and working it out took ~40 µs each time (ipaddress parsing). Kept
        across requests too, per peer and ``X-Forwarded-For`` headers: the same come again and again.
        """
        scope = getattr(request_or_scope, "scope", request_or_scope)
        if not isinstance(scope, dict):
            return resolve_client_ip(request_or_scope, self.trusted_proxies)
        known = scope.get(_CLIENT_IP)
        if known is not None and known[0] is self.trusted_proxies:
            return str(known[1])
        proxies = self.trusted_proxies
        # what the answer depends on: the peer and (from a trusted proxy) the X-Forwarded-For
        # headers, kept per those, as the same addresses and proxy chains come again and again
        facts = (peer_host(scope), forwarded_headers(scope) if proxies else ())
        kept = self._addresses.get(facts)
        if kept is None or kept[0] is not proxies:
            kept = (proxies, resolve(*facts, proxies))
            # a long header (anyone can send one) is not kept: the memory stays small
            if sum(map(len, facts[1])) <= FORWARDED_KEPT_BYTES:
                if len(self._addresses) >= ADDRESSES_KEPT:
                    self._addresses.clear()
                self._addresses[facts] = kept
        scope[_CLIENT_IP] = kept
        return kept[1]

    def rules(
        self,
        *,
        tenant: TenantConfig,
        visitor: str | None,
        client_ip: str,
        action: Action,
        via_client_key: bool = False,
        scopes: Collection[Scope] | None = None,
    ) -> Sequence[Rule]:
        """The rules one request is counted against (of ``scopes`` only, if given); limits set to 0
        are left out.

        Kept for the caller's next checks: a message is checked three or four times, and its
        visitor and address come back with the next message. The key holds only what the rules
        depend on, so a new visitor's thread check, or anyone's tenant-wide one, finds the rules
        of an earlier caller (from its address, of its tenant); a tenant's changed limits replace
        what was kept for it. Keys carry the tenant in braces, Redis Cluster's hash tag, so the
        keys of one check share a slot and the script may touch them together.
        """
        wanted = scopes if scopes is None or type(scopes) is tuple else tuple(scopes)
        by_visitor = action == "message" and bool(visitor) and (wanted is None or "visitor" in wanted)
        # a server-side client sends everyone's messages from one address: not counted by it
        by_ip = not via_client_key and (wanted is None or "ip" in wanted)
        key = (tenant.name, visitor if by_visitor else None, client_ip if by_ip else None, action, wanted)
        limits = tenant.limits
        known = self._rules.get(key)
        if known is not None and known[0] is limits:
            return known[1]
        wanted_rules: list[tuple[Scope, str, int, float]] = []
        if action == "message":
            if by_visitor:
                wanted_rules.append(("visitor", str(visitor), limits.messages_per_minute_per_visitor, MINUTE))
            if by_ip:
                ip = ip_key(client_ip, self.ipv6_prefix)
                wanted_rules.append(("ip", ip, limits.messages_per_minute_per_ip, MINUTE))
            if wanted is None or "tenant" in wanted:
                wanted_rules.append(("tenant", "*", limits.messages_per_minute_per_tenant, MINUTE))
        elif by_ip:
            wanted_rules.append(("ip", ip_key(client_ip, self.ipv6_prefix), limits.threads_per_hour_per_ip, HOUR))
        base = f"{self.key_prefix}{{{tenant.name}}}:{action}"
        rules = tuple(
            Rule(scope, f"{base}:{scope}:{ident}:{int(window)}", limit, window)
            for scope, ident, limit, window in wanted_rules
            if limit > 0
        )
        if len(self._rules) >= RULES_KEPT:
            self._rules.clear()
        self._rules[key] = (limits, rules)
        return rules

    async def check(
        self,
        *,
        tenant: TenantConfig,
        visitor: str | None,
        client_ip: str,
        action: Action,
        via_client_key: bool = False,
        scopes: Collection[Scope] | None = None,
        count: bool = True,
    ) -> None:
        """Count this request, or raise :class:`RateLimited` (and count nothing).

        ``scopes`` limits the check to those rules; ``count=False`` refuses when a rule is full
        but counts nothing (the request is counted later, once it is known to cost something).
        """
        backend = self.backend
        if backend is None:
            return
        rules = self.rules(
            tenant=tenant,
            visitor=visitor,
            client_ip=client_ip,
            action=action,
            via_client_key=via_client_key,
            scopes=scopes,
        )
        if not rules:
            return
        try:  # ``_acquire`` written in: a new chat is checked four times
            denial = await backend.acquire(rules, count=count)
        except Exception:
            if not self.fail_open:
                raise
            self._unavailable()
            denial = None
        if denial is not None:
            raise RateLimited(denial.scope, denial.retry_after, action)

    def _auth_rule(self, client_ip: str) -> Rule:
        ip = ip_key(client_ip, self.ipv6_prefix)
        return Rule(
            "auth", f"{self.key_prefix}{{auth}}:failed:{ip}:{int(AUTH_WINDOW)}", self.auth_failures, AUTH_WINDOW
        )

    async def check_auth(self, client_ip: str) -> None:
        """Raise :class:`RateLimited` while this address is over its failed authentications."""
        if self.backend is None or self.auth_failures <= 0:
            return
        denial = await self._acquire([self._auth_rule(client_ip)], count=False)
        if denial is not None:
            raise RateLimited("auth", denial.retry_after)

    async def auth_failed(self, client_ip: str) -> None:
        """Count a wrong client key or metrics token from this address."""
        if self.backend is not None and self.auth_failures > 0:
            await self._acquire([self._auth_rule(client_ip)])

    async def _acquire(self, rules: Sequence[Rule], *, count: bool = True) -> Any:
        assert self.backend is not None
        try:
            return await self.backend.acquire(rules, count=count)
        except Exception:
            if not self.fail_open:
                raise
            self._unavailable()
            return None

    def _unavailable(self) -> None:
        """Warn that the backend failed and requests go through: once per half minute, not per request."""
        now = time.monotonic()
        if now >= self._quiet_until:
            self._quiet_until = now + 30
            logger.warning("rate limiter unavailable; letting requests through", exc_info=True)
