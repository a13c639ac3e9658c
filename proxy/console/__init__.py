"""The staff console: sign-in, the handoff inbox, taking a conversation over, the dashboard."""

# The public face: the modules other packages import from. The rest are internal to the package.
__all__ = ("marks", "routes", "runtime", "takeover", "visitor")
