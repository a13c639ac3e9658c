"""Checks of what a caller sends that the database or the models would otherwise choke on."""

from __future__ import annotations

import re

from proxy.api.errors import ApiError

# our ids (``thr_`` + token_urlsafe) and the old service's (``thread_...``): letters, digits, - and _
_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


def check_id(value: str, what: str = "thread") -> str:
    """400 ``invalid_<what>_id`` for an id that cannot be one of ours (NUL, quotes, slashes, ...)."""
    if not _ID.fullmatch(value):
        raise ApiError(400, f"invalid_{what}_id", f"A {what} id is 1-200 letters, digits, '-' or '_'.")
    return value


def reject_nul(value: str, field: str) -> str:
    """Postgres text cannot hold NUL characters: name the field instead of failing to store it."""
    if "\x00" in value:
        code = "invalid_message" if field == "message" else "invalid_request"
        raise ApiError(400, code, f"The {field} contains a NUL character (\\u0000).")
    return value
