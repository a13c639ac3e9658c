"""Cancel scopes made without asking which async library runs them.

``anyio.CancelScope()`` looks up the running async library on every call (a context lookup and a
backend import check, about 4 µs) before making the backend's own scope; a chat makes several (its
turn's, its response's, the shielded closes at its end). This process runs on asyncio only, so the
backend's class is taken from the first scope made and used directly from then on (under 1 µs).
"""

from __future__ import annotations

import anyio

__all__ = ("cancel_scope",)

_scope_class: type[anyio.CancelScope] | None = None


def cancel_scope(*, shield: bool = False) -> anyio.CancelScope:
    """A new ``anyio.CancelScope`` of the running backend (the same object ``anyio.CancelScope``
    makes)."""
    global _scope_class
    scope_class = _scope_class
    if scope_class is None:
        scope = anyio.CancelScope(shield=shield)
        _scope_class = type(scope)
        return scope
    return scope_class(shield=shield)
