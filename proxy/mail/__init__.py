"""Outgoing notifications: SMTP settings, the durable outbox, the mail sender, signed webhooks, the local sink."""

# The public face: the modules other packages import from. The rest are internal to the package.
__all__ = ("outbox", "sender", "settings", "sink", "webhook")
