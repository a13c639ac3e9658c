"""Serving the embeddable widget, its per-tenant configuration and the demo pages."""

# The public face: the modules other packages import from. The rest are internal to the package.
__all__ = ("config", "routes")
