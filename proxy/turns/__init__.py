"""One chat turn: the thread lock, the engine run in its own task, and the events it publishes."""

# The public face: the modules other packages import from. The rest are internal to the package.
__all__ = (
    "admission",
    "channel",
    "events",
    "leases",
    "manager",
    "provider_deletes",
    "remote_cancel",
    "runner",
    "turn_request",
)
