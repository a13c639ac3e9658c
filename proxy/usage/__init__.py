"""Token usage per tenant and day, and the daily budgets that act on it."""

# The public face: the modules other packages import from. The rest are internal to the package.
__all__ = ("budget", "cli", "config", "store")
