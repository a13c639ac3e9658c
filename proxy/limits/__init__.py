"""Abuse limits: requests per tenant, visitor and client IP, in memory or in Redis.

Kept import-light on purpose: ``proxy.tenants`` imports :mod:`proxy.limits.config`, so nothing
here may pull in Redis, Litestar or the database. Import the pieces from their modules:
``proxy.limits.limiter.RateLimiter``, ``proxy.limits.client_ip.client_ip``,
``proxy.limits.settings.LimitSettings``.
"""

# The public face: the modules other packages import from. The rest are internal to the package.
__all__ = ("backends", "client_ip", "config", "limiter", "settings")
