"""The HTTP API: thread and turn endpoints, the compatibility routes, health, metrics and errors."""

# The public face: the modules other packages import from. The rest are internal to the package.
__all__ = (
    "compat",
    "cors",
    "database",
    "deps",
    "errors",
    "frontends",
    "health",
    "metrics",
    "middleware",
    "sse",
    "threads",
    "turns",
    "validation",
)
