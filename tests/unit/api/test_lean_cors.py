"""Our CORS middleware answers exactly as Litestar's: simple requests, streams and preflights,
headers in the same order, those of the same name a route set replaced as Litestar replaces them."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar import Litestar, Response, get, post
from litestar.config.cors import CORSConfig
from litestar.response import Stream
from litestar.testing import AsyncTestClient

from proxy.api.cors import LeanCORSMiddleware
from proxy.app import ProxyApp

CORS = CORSConfig(
    allow_origins=[],
    allow_origin_regex=r"(?i)^https://(www\.)?shop\.test$",
    allow_methods=["GET", "POST", "OPTIONS"],
    allow_headers=["Content-Type", "X-Request-ID"],
    expose_headers=["Retry-After", "X-Request-ID"],
    max_age=600,
)


@post("/things", status_code=201)
async def make_thing() -> dict[str, str]:
    return {"id": "a"}


@get("/stream", media_type="text/event-stream")
async def stream() -> Stream:
    async def parts() -> AsyncIterator[bytes]:
        for word in (b"a", b"b"):
            yield word

    return Stream(parts())


@get("/varied")
async def varied() -> Response[str]:
    headers = {"Vary": "Accept-Encoding", "X-Other": "kept", "Access-Control-Expose-Headers": "X-Mine"}
    return Response("varied", headers=headers)


ALL_ORIGINS = CORSConfig(allow_origins=["*"], allow_methods=["GET", "POST"], expose_headers=["X-Request-ID"])

REQUESTS = [
    ("POST", "/things", {"Origin": "https://www.shop.test"}),
    ("POST", "/things", {"Origin": "https://www.shop.test", "Cookie": "a=b"}),
    ("POST", "/things", {"Origin": "https://evil.test"}),
    ("POST", "/things", {}),
    ("GET", "/stream", {"Origin": "https://shop.test"}),
    ("OPTIONS", "/things", {"Origin": "https://www.shop.test", "Access-Control-Request-Method": "POST"}),
    ("OPTIONS", "/things", {"Origin": "https://evil.test", "Access-Control-Request-Method": "POST"}),
    ("OPTIONS", "/things", {"Origin": "https://shop.test", "Access-Control-Request-Method": "PUT"}),
    ("GET", "/varied", {"Origin": "https://shop.test"}),
    ("GET", "/varied", {"Origin": "https://evil.test"}),
    ("GET", "/varied", {"Origin": "https://evil.test", "Cookie": "a=b"}),
    ("GET", "/varied", {"Origin": ""}),
]


async def answers(app: Litestar) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    found = []
    async with AsyncTestClient(app) as client:
        for method, path, headers in REQUESTS:
            response = await client.request(method, path, headers=headers)
            kept = [(k, v) for k, v in response.headers.multi_items() if k not in ("date", "content-length")]
            found.append((response.status_code, kept, response.content))
    return found


async def test_the_same_answers_as_litestars_cors_middleware() -> None:
    ours = ProxyApp([make_thing, stream, varied], cors_config=CORS, logging_config=None)
    assert type(ours.asgi_handler) is LeanCORSMiddleware
    theirs = Litestar([make_thing, stream, varied], cors_config=CORS, logging_config=None)
    got, expected = await answers(ours), await answers(theirs)
    assert got == expected
    assert dict(got[0][1])["access-control-allow-origin"] == "https://www.shop.test"
    assert "access-control-allow-origin" not in dict(got[2][1])
    assert dict(got[8][1])["vary"] == "Origin" and dict(got[8][1])["x-other"] == "kept"


async def test_the_same_answers_when_every_origin_is_allowed() -> None:
    ours = ProxyApp([make_thing, stream, varied], cors_config=ALL_ORIGINS, logging_config=None)
    theirs = Litestar([make_thing, stream, varied], cors_config=ALL_ORIGINS, logging_config=None)
    got, expected = await answers(ours), await answers(theirs)
    assert got == expected
    assert dict(got[1][1])["access-control-allow-origin"] == "https://www.shop.test"  # with a cookie: the origin
    assert dict(got[0][1])["access-control-allow-origin"] == "*"


def test_without_cors_nothing_is_added() -> None:
    assert type(ProxyApp([make_thing], logging_config=None).asgi_handler) is not LeanCORSMiddleware
