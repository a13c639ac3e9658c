"""Leads and human handoff: durable capture, an outbox for mail and webhooks, the admin API."""

# The public face: the modules other packages import from. The rest are internal to the package.
__all__ = ("admin", "config", "erasure_api", "erasure_cli", "handoff", "tools", "worker")
