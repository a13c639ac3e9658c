"""The error a tool raises to tell the model what went wrong (a leaf: configuration modules use it)."""

from __future__ import annotations

from proxy.errors import ProxyError


class ToolError(ProxyError):
    """Raised by a tool to tell the model something went wrong, in words it can act on."""

    code = "tool_failed"
