"""One more try for an SDK call the provider's server closed its connection on without answering.

A server closes a keep-alive connection once it has been idle for its own time-out (uvicorn's is
5 s, so LiteLLM's and vLLM's; we keep idle connections 30 s). A request sent on such a connection
just as the server closes it is never read: the call fails with "server disconnected" though the
provider never saw it. The wire client sends it once more on a new connection
(:mod:`proxy.engines.wire.pool`); :class:`OnceMoreOnClose` does the same for the SDK's other calls
(conversations, items, probes, deletes, the assistants engine), whatever
``PROXY_PROVIDER_MAX_RETRIES`` allows, so that a setting of 0 does not turn this race into a failed
turn. A second close is raised as the connection error it is: aiohttp's own mapping calls it a
connect timeout, which would send an operator looking for a slow network. Neither transport says
whether the connection was a kept one, so a new connection closed unanswered (a balancer giving
up on a slow request) is sent once more too; the SDK's own retries would send it again anyway.
"""

from __future__ import annotations

import aiohttp
import httpx2

__all__ = ("OnceMoreOnClose",)


def _closed_unanswered(exc: BaseException) -> bool:
    """Whether ``exc``, raised before a response's head, says the server closed the connection
    without a byte of an answer. Not an answer it could not parse, nor a head cut off: the server
    read that request, and may have acted on it (a conversation made)."""
    if isinstance(exc, httpx2.RemoteProtocolError):  # httpx2's own connections (httpcore's words)
        return str(exc).startswith(_NO_ANSWER)
    cause = exc.__cause__
    # aiohttp's, mapped by the SDK's transport; its message is the unfinished head when one came
    return isinstance(cause, aiohttp.ServerDisconnectedError) and isinstance(cause.message, str)


_NO_ANSWER = "Server disconnected without sending a response"


class OnceMoreOnClose(httpx2.AsyncBaseTransport):
    """``inner``, with a request whose connection the server closed before answering sent once more."""

    __slots__ = ("inner",)

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            return await self.inner.handle_async_request(request)
        except httpx2.TransportError as exc:
            if not _closed_unanswered(exc):
                raise
            first = exc
        try:
            return await self.inner.handle_async_request(request)  # a new connection: the closed one is gone
        except httpx2.TransportError as exc:
            if not _closed_unanswered(exc):
                raise
            raise httpx2.RemoteProtocolError(
                "the provider's server closed the connection without answering, twice", request=request
            ) from first

    async def aclose(self) -> None:
        await self.inner.aclose()
