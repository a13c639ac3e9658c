"""A streamed response written by the request's own task: what every SSE route returns.

Litestar's ``Stream`` writes the body from a second task in an anyio task group while the
request's task listens for the client going away. A worker holds thousands of quiet streams, and
each such pair of tasks, with its task group and cancel scopes, costs memory for as long as the
stream is open. Here the request's task writes the frames itself, inside one cancel scope; the
disconnect cancels that scope: under our server (:mod:`proxy.serving`) through a callback the
connection calls when it is lost, elsewhere (tests, another server) through a bare ``receive()``
task. The response on the wire (status, headers, body) is the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, cast

import anyio
from litestar.connection import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.response import Stream
from litestar.response.base import ASGIResponse
from litestar.response.streaming import ASGIStreamingResponse
from litestar.status_codes import HTTP_200_OK
from litestar.types import HTTPResponseBodyEvent, Receive, Scope, Send

from proxy.engines.scopes import cancel_scope
from proxy.serving import ON_DISCONNECT

OnDisconnect = Callable[[Callable[[], None] | None], None]

_NO_SCOPE = cast("Scope", {})
_END: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"", "more_body": False}


async def _disconnected(receive: Receive) -> None:
    """Return once the client has gone (or the server ended the response)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class _OneTaskResponse(ASGIStreamingResponse):
    __slots__ = ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send, *, started: bool = False) -> None:
        # as ``ASGIResponse.__call__`` with ``send_body`` written in (one coroutine fewer held for
        # as long as the stream is open), and with the scope for the server's disconnect callback
        if not started:
            await self.start_response(send=send)
            if self.is_head_response:
                await send(_END)
                await self.after_response()
                return
        # the headers went out with the start of the response; a quiet stream need not keep them
        self.headers.headers.clear()
        on_disconnect = cast("OnDisconnect | None", scope.get(ON_DISCONNECT))
        frames = self.iterator
        with cancel_scope() as writing:
            if on_disconnect is not None:  # our server tells us: no task waiting in receive()
                on_disconnect(writing.cancel)
            else:
                gone = asyncio.ensure_future(_disconnected(receive))
                stop = _Stopper(writing)
                gone.add_done_callback(stop)
            try:
                ended = False
                async for chunk in frames:
                    if ended:  # nothing goes after the end (the frames run on only to finish their reader)
                        continue
                    # the chunk that ends the run (``last``: see ``BatchFrames``) ends the body too
                    ended = getattr(frames, "last", False)
                    body: HTTPResponseBodyEvent = {"type": "http.response.body", "body": chunk, "more_body": not ended}  # type: ignore[typeddict-item]
                    await send(body)
                    # written: a quiet stream waits for its next frame without holding on to this one
                    chunk = b""
                    del body
                if not ended:
                    await send(_END)
            finally:
                if on_disconnect is not None:
                    on_disconnect(None)
                else:
                    gone.remove_done_callback(stop)
                    gone.cancel()
                aclose = getattr(frames, "aclose", None)
                if aclose is not None:  # an async generator, or an iterator closing like one
                    await aclose()  # its ``finally`` (detaching from the run) runs now, not at GC
        if not started:
            await self.after_response()

    async def send_body(self, send: Send, receive: Receive) -> None:
        await self(_NO_SCOPE, receive, send, started=True)  # without the scope: the receive() watcher


class _Stopper:
    """The done callback that cancels the writing when the client goes away."""

    __slots__ = ("_scope",)

    def __init__(self, scope: anyio.CancelScope) -> None:
        self._scope = scope

    def __call__(self, task: asyncio.Future[None]) -> None:
        if task.cancelled():
            return
        task.exception()  # a failed receive() means the client is gone as well (and is not logged)
        self._scope.cancel()


class FrameStream(Stream):
    """A ``Stream`` of ready-made byte frames, written without a task of its own.

    Its ASGI response is made directly when the route adds nothing to it (no headers, cookies or
    background task of the route's; what every SSE route of ours is): Litestar's way, through
    ``Stream.to_asgi_response`` and ``ASGIResponse.__init__``, merges the route's headers, chains
    cookies, checks the iterator against four abstract classes twice and adds each header by name
    with look-ups that decode every header so far, ≈ 2 % of a chat's CPU. The response (status,
    headers in their order, body) is the same (``tests/unit/api/test_frame_stream.py`` compares).
    """

    __slots__ = ()

    def __init__(self, frames: AsyncIterator[bytes] | AsyncIterable[bytes], **kwargs: Any) -> None:
        super().__init__(frames, **kwargs)

    def to_asgi_response(self, app: Any, request: Request[Any, Any, Any], **kwargs: Any) -> ASGIResponse:
        media_type = self.media_type or kwargs.get("media_type")  # not the route's (a JSON route's stream)
        if type(media_type) is str and app is None and self._alone(kwargs):
            return self._direct(media_type, kwargs.get("status_code"))
        kwargs["media_type"] = media_type
        response = super().to_asgi_response(app, request, **kwargs)
        if type(response) is ASGIStreamingResponse:
            response.__class__ = _OneTaskResponse  # same slots: only ``send_body`` differs
        return response

    def _alone(self, route_adds: dict[str, Any]) -> bool:
        """Whether neither the route nor this response has more than headers and a status."""
        if self.cookies or self.background is not None or not hasattr(self.iterator, "__aiter__"):
            return False
        return not any(route_adds.get(name) for name in _ROUTE_ADDS)

    def _direct(self, media_type: str, route_status: int | None) -> _OneTaskResponse:
        """What ``super().to_asgi_response`` makes here, made directly."""
        encoding = self.encoding
        raw = [(str(name).lower().encode("latin-1"), value.encode("latin-1")) for name, value in self.headers.items()]
        if not any(name == b"content-type" for name, _ in raw):
            content_type = f"{media_type}; charset={encoding}" if media_type.startswith("text/") else media_type
            raw.append((b"content-type", content_type.encode("latin-1")))
        headers = MutableScopeHeaders()
        headers.headers = raw
        response = _OneTaskResponse.__new__(_OneTaskResponse)
        response._encoded_cookies = ()
        response.background = None
        response.body = b""
        response.content_length = 0
        response.encoding = encoding
        response.headers = headers
        response.is_head_response = False
        response.status_code = self.status_code or route_status or HTTP_200_OK
        response.iterator = cast("AsyncIterator[bytes]", self.iterator)
        return response


# what a route may add to its responses (passed to ``to_asgi_response``), besides its status code
_ROUTE_ADDS = ("background", "cookies", "encoded_headers", "headers", "is_head_response")
