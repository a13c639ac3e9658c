"""The streamed requests of the chat and responses engines, sent without the openai SDK.

Why not through the SDK: a relayed token is one streamed event, and the SDK spent about as much
CPU on each as everything else a turn does with it. Profiled on the project machine (200 chats at
once, bench/FINDINGS.md section 7), reading and decoding the provider's stream cost 45-50 µs of
CPU per token (the SDK splits the body into lines and decodes each in Python, then an
``httpx2`` response wraps aiohttp's), building each request 16 % of a new chat's fixed CPU
(``FinalRequestOptions``, auth hooks, ``base_url``, header merging), and its wrappers
(``httpx2`` request and response, the SDK's stream, a copy of the options) about 12 KB of each
idle stream's memory on top of aiohttp's own objects. Here:

* the request of a tenant is built once (:class:`StreamEndpoint`, from the tenant's SDK client, so
  it sends what the SDK sends: URL and query, ``Authorization`` or Azure's ``api-key``, the
  organization and project headers, the user agent), and each turn only encodes its body (msgspec,
  about 7x faster than ``json`` on these bodies);
* the answer is split into events as its bytes arrive (:mod:`proxy.engines.wire`, a small
  HTTP/1.1 client on an asyncio protocol; see there why not aiohttp) and decoded once per event
  (:mod:`proxy.engines.event_stream`);
* what the SDK did around it is kept, in :mod:`proxy.engines.errors` where the SDK path's errors are
  mapped too: retries before the stream starts (its policy and ``Retry-After`` handling), the
  status errors, an ``{"error": ...}`` payload inside the stream failing the turn, and
  ``[DONE]`` ending it (the rest of the body drained briefly, so the connection is kept).

Measured against the SDK path (2026-12-01, the shared 2-core machine, load 5-11): splitting and
decoding one event costs 2.6-2.8 µs of CPU against 8-10 µs for the SDK's line decoder and
``json`` alone; the engines' own CPU for a turn, without the deltas, went from 1.8-2.2 ms to
0.8 ms (chat); an idle stream's memory in the worker from 77 to 55 KB.

``close()`` ends the HTTP response at once, also unfinished: the connection is closed then (its
body is unread, so it cannot serve another request) and the provider stops generating.

Two transports: the default (``PROXY_PROVIDER_TRANSPORT=aiohttp``) is :class:`ProviderPool`, the
process's provider connections: the streamed turns go over its :class:`~proxy.engines.wire.WirePool`,
and, as an ``httpx2`` client over an ``aiohttp.ClientSession``, it carries the SDK's other calls
(conversations, probes, the assistants engine; two pools, so those calls do not reuse the streams'
connections). Or any other ``httpx2.AsyncClient`` the SDK client was given (``httpx``, and tests
that script the provider in-process), read from ``httpx2``'s byte stream and split into events
by :class:`~proxy.engines.event_stream.HttpxBody`.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import aiohttp
import anyio
import httpx2
import msgspec.json
import openai
from openai._vendor.httpx_aiohttp import AiohttpTransport

from proxy.engines.base import ReadPace
from proxy.engines.errors import (
    TRANSPORT_ERRORS,
    ProviderStatusError,
    from_provider_exception,
    request_failed,
    retry_delay,
    should_retry,
)
from proxy.engines.event_stream import Body, EventStream, HttpxBody
from proxy.engines.idle_close import OnceMoreOnClose
from proxy.engines.proxied import EnvironmentProxied
from proxy.engines.scopes import cancel_scope
from proxy.engines.wire import Target, WirePool
from proxy.engines.wire.target import SOCKS_SCHEMES

__all__ = ("EventStream", "ProviderPool", "StreamEndpoint")

KEEPALIVE_SECONDS = 30  # an idle provider connection is kept this long for the next request
_SKIPPED_HEADERS = ("x-stainless-",)  # the SDK's telemetry; no server needs them
_encode = msgspec.json.Encoder().encode


class ProviderPool(EnvironmentProxied):
    """The process's provider connections, made on first use: the streamed turns' (a
    :class:`~proxy.engines.wire.WirePool`), and, as an ``httpx2`` client, an ``aiohttp.ClientSession``
    the SDK clients send their other calls through (conversations, probes, the assistants engine).
    No cap on connections: every running turn holds one, so a cap would cap the worker's open streams.
    Both go through the proxy the environment names for their URL (:mod:`proxy.engines.proxied`).
    """

    def __init__(self, *, connect_timeout: float, read_timeout: float) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._wire: WirePool | None = None
        self._socks: list[httpx2.AsyncHTTPTransport] = []
        self._ssl: ssl.SSLContext = httpx2.create_ssl_context()  # the CA bundle httpx2 and the SDK use
        timeout = httpx2.Timeout(connect=connect_timeout, read=read_timeout, write=30.0, pool=connect_timeout)
        transport = OnceMoreOnClose(AiohttpTransport(client=self.session))
        super().__init__(transport=transport, timeout=timeout, follow_redirects=True)

    def session(self) -> aiohttp.ClientSession:
        """The SDK's session. Not ``trust_env``: aiohttp's lookup drops an ``https://`` proxy (with a
        warning) and reads the environment in a thread for every request; each call is given its
        proxy instead (:mod:`proxy.engines.proxied`)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_SECONDS, ssl=self._ssl)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    def proxied_transport(self, proxy: httpx2.Proxy) -> httpx2.AsyncBaseTransport:
        """The SDK's calls through ``proxy``, over the same session (aiohttp takes the proxy per
        request); through a SOCKS5 proxy, which aiohttp does not speak, over ``httpx2``'s own
        connections (its ``socks`` extra)."""
        if proxy.url.scheme in SOCKS_SCHEMES:
            limits = httpx2.Limits(max_connections=None, keepalive_expiry=KEEPALIVE_SECONDS)
            transport = httpx2.AsyncHTTPTransport(verify=self._ssl, limits=limits, proxy=proxy)
            self._socks.append(transport)
            return transport
        return AiohttpTransport(client=self.session, proxy=proxy)

    def wire(self) -> WirePool:
        """The streamed turns' connections: no cookies (one tenant's provider cookies are not sent
        for another), the environment's proxy read once per provider origin (:meth:`proxy_for`)."""
        if self._wire is None:
            self._wire = WirePool(self._ssl, keepalive=KEEPALIVE_SECONDS)
        return self._wire

    async def close_more(self) -> None:
        transports, self._socks = self._socks, []
        for transport in transports:
            await transport.aclose()
        if self._wire is not None:
            self._wire.close()
            self._wire = None
        if self._session is not None:
            await self._session.close()


class _Transport(Protocol):
    async def post(self, url: str, headers: Mapping[str, str], body: bytes, pace: ReadPace | None) -> Body: ...


class _WireTransport:
    """The streamed requests over the pool's :class:`~proxy.engines.wire.WirePool`."""

    __slots__ = ("_connect", "_pool", "_read", "_targets")

    def __init__(self, pool: ProviderPool, connect: float | None, read: float | None) -> None:
        self._pool = pool
        self._connect = connect
        self._read = read
        self._targets: dict[str, Target] = {}

    async def post(self, url: str, headers: Mapping[str, str], body: bytes, pace: ReadPace | None) -> Body:
        target = self._targets.get(url)
        if target is None:
            proxy, auth = self._pool.proxy_for(url)
            target = Target.of(url, dict(headers), proxy, auth)
            self._targets[url] = target
        wire = self._pool.wire()
        return await wire.post(target, body, connect_timeout=self._connect, read_timeout=self._read, pace=pace)


class _HttpxTransport:
    __slots__ = ("_client", "_timeout")

    def __init__(self, client: httpx2.AsyncClient, timeout: httpx2.Timeout) -> None:
        self._client = client
        self._timeout = timeout

    async def post(self, url: str, headers: Mapping[str, str], body: bytes, pace: ReadPace | None) -> Body:
        request = self._client.build_request("POST", url, content=body, headers=headers, timeout=self._timeout)
        return HttpxBody(await self._client.send(request, stream=True))


class StreamEndpoint:
    """One tenant's provider for streamed POSTs: the URL prefix, query and headers built once.

    ``open`` tries again before the stream starts, as the SDK did: after a refused or broken
    connection, a timeout, or a status the SDK retries (see :func:`proxy.engines.errors.should_retry`),
    up to ``max_retries`` times; a stream that has started is never retried.
    """

    __slots__ = ("_base", "_headers", "_query", "_transport", "_urls", "max_retries")

    def __init__(
        self, base_url: str, headers: Mapping[str, str], query: str, max_retries: int, transport: _Transport
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = dict(headers)
        self._query = query
        self._transport = transport
        self._urls: dict[str, str] = {}
        self.max_retries = max_retries

    @classmethod
    def for_client(cls, client: openai.AsyncOpenAI) -> StreamEndpoint:
        """What ``client`` sends, over the connections it sends through (its ``httpx2`` client)."""
        headers = {
            name: value
            for name, value in {**client.auth_headers, **client.default_headers}.items()
            if isinstance(value, str) and not name.lower().startswith(_SKIPPED_HEADERS)
        }
        headers["Accept"] = "text/event-stream"
        headers["Content-Type"] = "application/json"
        query = str(httpx2.QueryParams({k: str(v) for k, v in client.default_query.items()}))
        timeout = client.timeout if isinstance(client.timeout, httpx2.Timeout) else httpx2.Timeout(client.timeout)
        http = client._client  # the SDK keeps no public handle on the httpx2 client it was given
        transport: _Transport
        if isinstance(http, ProviderPool):
            transport = _WireTransport(http, timeout.connect, timeout.read)
        else:
            transport = _HttpxTransport(http, timeout)
        return cls(str(client.base_url), headers, query, client.max_retries, transport)

    def url(self, path: str) -> str:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = f"{self._base}/{path.lstrip('/')}" + (f"?{self._query}" if self._query else "")
        return url

    async def open(
        self,
        path: str,
        params: Mapping[str, Any],
        pace: ReadPace | None = None,
        decode: Callable[[bytes], Any] | None = None,
    ) -> EventStream:
        """POST ``params`` (``stream: true`` among them) to ``path``; failures before the stream are
        ``EngineError``. ``pace``: the turn's, whose stream may hold the reading between its writes
        (only over our own connections: :mod:`proxy.engines.wire.pacing`); ``decode``: how an
        event's data becomes what the engine reads (default:
        :func:`~proxy.engines.event_stream.decoded`)."""
        url, body = self.url(path), _encode(params)
        attempt = 0
        while True:
            try:
                answer = await self._transport.post(url, self._headers, body, pace)
            except TRANSPORT_ERRORS as exc:
                if attempt >= self.max_retries:
                    raise request_failed(exc) from exc
                await anyio.sleep(retry_delay(attempt))
                attempt += 1
                continue
            if answer.status < 300:
                return EventStream(answer, decode)
            error = await self._refused(answer)
            if attempt >= self.max_retries or not should_retry(error.status, answer.headers):
                raise from_provider_exception(error) from error
            await anyio.sleep(retry_delay(attempt, answer.headers))
            attempt += 1

    @staticmethod
    async def _refused(answer: Body) -> ProviderStatusError:
        try:
            raw = await answer.read_all()
        except TRANSPORT_ERRORS as exc:
            raise request_failed(exc) from exc
        finally:
            with cancel_scope(shield=True):
                await answer.close()
        return ProviderStatusError.from_response(answer.status, raw)
