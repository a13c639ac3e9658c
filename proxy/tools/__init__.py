"""The tool registry: what an assistant may call, and the context a call runs in."""

# The public face: the modules other packages import from. The rest are internal to the package.
__all__ = ("errors", "registry")
