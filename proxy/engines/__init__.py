"""Provider engines behind one interface (see ``base.Engine``)."""

# The public face: the modules other packages import from. The rest are internal to the package.
__all__ = ("base", "checks", "errors", "factory", "modes", "offline", "proxy_routes", "scopes")
