"""Metrics, structured logs and request ids."""

# The public face: the modules other packages import from. The rest are internal to the package.
__all__ = ("access", "logging", "metrics")
