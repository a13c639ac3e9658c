"""A deliberately misconfigured reverse proxy, to show each doctor check failing where it should.

It forwards every request to the real proxy and then does what a badly set up front end does:

- ``buffer``: collects the whole response before sending any of it (nginx ``proxy_buffering on``);
- ``gzip``: compresses event streams, holding them until the end (a CDN or ``gzip on``);
- ``strip_cors``: drops every ``Access-Control-*`` response header;
- ``widget_html``: serves ``/widget.js`` as ``text/html`` without its ETag;
- ``cache``: rewrites the stream's ``Cache-Control`` to a cacheable one.

With no fault it streams everything through untouched, which must pass every check.
"""

from __future__ import annotations

import gzip
from typing import Any

import httpx

from tests.support.asgi import answer_lifespan, read_body

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length", "host"}


class BrokenProxy:
    def __init__(self, upstream: str, *faults: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults = set(faults)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        body = await read_body(receive)
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode().lower() not in HOP_BY_HOP
        ]
        url = self.upstream + scope["path"] + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")
        async with httpx.AsyncClient(timeout=60) as client:
            request = client.build_request(scope["method"], url, headers=headers, content=body)
            response = await client.send(request, stream=True)
            try:
                await self._relay(scope["path"], response, send)
            finally:
                await response.aclose()

    def _headers(self, path: str, response: httpx.Response) -> list[tuple[str, str]]:
        out = []
        for name, value in response.headers.multi_items():
            lower = name.lower()
            if lower in HOP_BY_HOP:
                continue
            if "strip_cors" in self.faults and lower.startswith("access-control-"):
                continue
            if "widget_html" in self.faults and path == "/widget.js" and lower in ("content-type", "etag"):
                continue
            if "cache" in self.faults and lower == "cache-control" and self._is_stream(response):
                value = "public, max-age=60"
            out.append((name, value))
        if "widget_html" in self.faults and path == "/widget.js":
            out.append(("content-type", "text/html"))
        return out

    @staticmethod
    def _is_stream(response: httpx.Response) -> bool:
        return response.headers.get("content-type", "").startswith("text/event-stream")

    async def _relay(self, path: str, response: httpx.Response, send: Any) -> None:
        headers = self._headers(path, response)
        stream = self._is_stream(response)
        if stream and "gzip" in self.faults:
            body = gzip.compress(b"".join([chunk async for chunk in response.aiter_raw()]))
            headers += [("content-encoding", "gzip"), ("content-length", str(len(body)))]
            await self._start(send, response.status_code, headers)
            await send({"type": "http.response.body", "body": body})
            return
        if "buffer" in self.faults:
            body = b"".join([chunk async for chunk in response.aiter_raw()])
            await self._start(send, response.status_code, [*headers, ("content-length", str(len(body)))])
            await send({"type": "http.response.body", "body": body})
            return
        await self._start(send, response.status_code, headers)
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _start(send: Any, status: int, headers: list[tuple[str, str]]) -> None:
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        await send({"type": "http.response.start", "status": status, "headers": raw})
