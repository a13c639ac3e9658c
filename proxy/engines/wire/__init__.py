"""A small streaming HTTP/1.1 client for one path: the provider's streamed answers to a turn.

Why not aiohttp here (it still carries the SDK's other calls): measured on the project machine
(2026-12-02, load 5-10), aiohttp's request kept ≈ 13 KB of Python heap per idle stream in the
worker (``tracemalloc``: its connection protocol and parser 4.1 KB, the ``StreamReader`` and its
deques 3.0 KB, the connector 1.7 KB, the ``ClientResponse`` and request 1.6 KB, the session's
frames 0.8 KB, a read-timeout timer rescheduled on every read), and every received chunk went
through its protocol, the ``StreamReader``, that timer and a task wake-up before our SSE splitter
saw it. Here a connection is one :class:`asyncio.Protocol` with ``httptools`` (llhttp, the parser
uvicorn uses) as its parser: the body is split into SSE events inside ``data_received``, the
waiting turn is woken once per read with the events completed, and one timer serves the read
timeouts of all connections. Measured the same way: ≈ 2.9 KB per idle stream (the transport, the
protocol, the parser), 44 → 35 KB per idle stream in the worker (RSS), CPU per relayed token at
200 chats 0.68-0.86× and the fixed CPU of a chat 0.6-0.7× of aiohttp's path, turn about. Between
a stream's writes the turn's connection is not read at all (``pacing``), so that one read carries
the several tokens the next write shows rather than one.

What it does, as aiohttp did for these requests: a keep-alive pool per origin (at most
``max_idle`` idle connections each, closed after ``keepalive`` seconds idle; no cap on connections
in use: each running turn holds one), host addresses kept ten seconds (as aiohttp's resolver
cache), each tried in turn, TLS with the caller's context (hostname checked),
connect and read timeouts, chunked, ``Content-Length`` and close-delimited bodies, ``gzip`` and
``deflate`` bodies, proxies (absolute-form requests through an ``http://`` proxy, a ``CONNECT``
tunnel for ``https://`` targets, ``Proxy-Authorization``; a SOCKS5 proxy's handshake), a reused
connection that the server had closed retried once on a new one before any answer, and a response
closed before its end closing its connection (a cancelled turn too). Not done: redirects
(providers' APIs do not redirect a streamed POST), HTTP/2, ``brotli`` (never asked for: no ``Accept-Encoding`` is sent).

Errors are the standard library's: ``OSError`` (``ConnectionError`` for a closed or malformed
connection, ``ssl.SSLError``, ``socket.gaierror``) and ``TimeoutError``, which
:mod:`proxy.engines.errors` maps as it mapped aiohttp's.

Its modules: ``target`` (a URL's connection key and request head, worked out once), ``pool`` (the
keep-alive connections per origin and the hosts' addresses), ``connection`` (one connection's
protocol and parser callbacks), ``feed`` (its body: SSE splitting and the turn's wake-ups, the hot
path), ``pacing`` (its reading held between the stream's writes, one timer ending the holds),
``tunnel`` (``CONNECT`` through a proxy), ``socks`` (through a SOCKS5 proxy), ``silences`` (the
shared read-timeout timer), ``response`` (the answer the caller holds), ``decoding`` (``gzip`` and
``deflate`` bodies).
"""

from __future__ import annotations

from proxy.engines.wire.pool import WirePool
from proxy.engines.wire.response import WireResponse
from proxy.engines.wire.target import Target

__all__ = ("Target", "WirePool", "WireResponse")
