"""Helpers of the simulator's own tests."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ("Control",)


class Control:
    """The ``/_sim`` endpoints."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def reset(self) -> None:
        (await self.http.post("/_sim/reset")).raise_for_status()

    async def queue(self, *kinds: str) -> None:
        (await self.http.post("/_sim/faults", json={"next": list(kinds)})).raise_for_status()

    async def requests(self, **wait_for: int) -> list[dict[str, Any]]:
        response = await self.http.get("/_sim/requests", params=wait_for)
        response.raise_for_status()
        payload = response.json()
        assert payload["satisfied"], f"the simulator log never reached {wait_for}"
        return payload["requests"]  # type: ignore[no-any-return]
