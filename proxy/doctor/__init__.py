"""``python -m proxy doctor URL``: check a deployment from outside, as the widget on a site would."""

# The public face: the modules other packages import from. The rest are internal to the package.
__all__ = ("cli",)
