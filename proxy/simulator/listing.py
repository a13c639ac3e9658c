"""Cursor pages (``{"object": "list", "data", "first_id", "last_id", "has_more"}``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from proxy.simulator.errors import invalid_request

__all__ = ("cursor_page",)


def cursor_page(
    items: Sequence[dict[str, Any]],
    *,
    order: str,
    limit: int,
    after: str | None = None,
    before: str | None = None,
) -> dict[str, Any]:
    """One page of ``items`` (stored oldest first) in ``order``, starting past the ``after`` cursor."""
    if order not in ("asc", "desc"):
        raise invalid_request(
            f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.", param="order", code="invalid_value"
        )
    if not 1 <= limit <= 100:
        raise invalid_request(
            f"Invalid 'limit': integer out of range. Expected a value between 1 and 100, but got {limit} instead.",
            param="limit",
            code="integer_out_of_range",
        )
    ordered = list(items) if order == "asc" else list(reversed(items))
    ids = [item["id"] for item in ordered]
    start = ids.index(after) + 1 if after in ids else 0
    stop = ids.index(before) if before in ids else len(ordered)
    data = ordered[start : min(stop, start + limit)]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": start + limit < stop,
    }
