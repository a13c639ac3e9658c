"""Talking to the staff console and the widget's live stream over HTTP, as a browser would."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx

from tests.support.waiting import eventually


class Staff:
    """A signed-in staff member: the session cookie in the client's jar, the CSRF token at hand."""

    def __init__(self, client: httpx.AsyncClient, csrf: str, me: dict[str, Any]) -> None:
        self.client = client
        self.csrf = csrf
        self.me = me

    def headers(self) -> dict[str, str]:
        return {"Origin": str(self.client.base_url).rstrip("/"), "X-CSRF-Token": self.csrf}

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.client.post(f"/console/api{path}", json=body or {}, headers=self.headers())

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(f"/console/api{path}")


async def sign_in(client: httpx.AsyncClient, **body: str) -> Staff:
    origin = str(client.base_url).rstrip("/")
    response = await client.post("/console/api/session", json=body, headers={"Origin": origin})
    assert response.status_code == 200, response.text
    me = response.json()
    return Staff(client, me["csrf_token"], me)


class EventReader:
    """Server-sent events of a stream, collected as they come (pings dropped)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def named(self, name: str) -> list[dict[str, Any]]:
        return [data for event, data in self.events if event == name]

    async def wait_for(self, name: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            found = self.named(name)
            return found if len(found) >= count else None

        return await eventually(enough, timeout=timeout)


@asynccontextmanager
async def following(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None
) -> AsyncIterator[EventReader]:
    """Follow an SSE stream in the background while the block runs."""
    reader = EventReader()
    opened = anyio.Event()

    async def run() -> None:
        async with client.stream("GET", path, headers=headers, timeout=None) as response:
            assert response.status_code == 200, await response.aread()
            opened.set()
            name = None
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name:
                    reader.events.append((name, json.loads(line[6:])))
                    name = None

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        with anyio.fail_after(10):
            await opened.wait()
        try:
            yield reader
        finally:
            tg.cancel_scope.cancel()
