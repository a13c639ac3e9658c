"""The one middleware around every route: request ids in headers and logs, the database wait; errors
answered as with Litestar's own exception middlewares."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar, asgi, get
from litestar.config.cors import CORSConfig
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromQuery
from litestar.plugins.prometheus import PrometheusConfig
from litestar.response import Stream
from litestar.testing import AsyncTestClient
from litestar.types import Receive, Scope, Send

from proxy.api.cors import LeanCORSMiddleware
from proxy.api.middleware import LeanExceptionHandlerMiddleware, front_door
from proxy.api.sent import SENT, Sent
from proxy.app import ProxyApp
from proxy.observability.logging import JsonFormatter, request_id
from proxy.store.db import request_wait_limit

logger = logging.getLogger("tests.front_door")


@get("/seen")
async def seen() -> dict[str, str | float | None]:
    logger.info("handling")
    return {"request_id": request_id.get(), "wait": request_wait_limit.get()}


@get("/missing")
async def missing() -> None:
    raise NotFoundException("no such thing")


@get("/metrics")
async def metrics() -> dict[str, str | None]:
    return {"request_id": request_id.get()}


def app() -> Litestar:
    config = PrometheusConfig(app_name="door", prefix="door_http", group_path=True, exclude=["/metrics"])
    return Litestar([seen, missing, metrics], middleware=[front_door(config, pool_wait=2.5)], logging_config=None)


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app()) as client:
        yield client


class Lines(logging.Handler):
    """Formats each record as it is logged (the request id is read then)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def test_the_callers_request_id_is_kept_sent_back_and_set_for_logs(client: AsyncTestClient[Litestar]) -> None:
    lines = Lines()
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        response = await client.get("/seen", headers={"X-Request-ID": "req-42"})
    finally:
        logger.removeHandler(lines)
    assert [line["request_id"] for line in lines.lines if line["msg"] == "handling"] == ["req-42"]
    assert response.headers["x-request-id"] == "req-42"
    assert response.json() == {"request_id": "req-42", "wait": 2.5}
    assert request_id.get() is None and request_wait_limit.get() is None  # reset after the request


async def test_a_missing_or_unprintable_id_is_replaced_and_a_long_one_cut(client: AsyncTestClient[Litestar]) -> None:
    made = (await client.get("/seen")).headers["x-request-id"]
    assert len(made) == 16 and int(made, 16) >= 0
    assert (await client.get("/seen")).headers["x-request-id"] != made
    replaced = (await client.get("/seen", headers={"X-Request-ID": "bad\tid"})).headers["x-request-id"]
    assert len(replaced) == 16 and replaced != "bad\tid"
    assert (await client.get("/seen", headers={"X-Request-ID": "x" * 100})).headers["x-request-id"] == "x" * 64


async def test_errors_and_paths_left_out_of_the_metrics_carry_the_id(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/missing", headers={"X-Request-ID": "req-404"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "req-404"
    excluded = await client.get("/metrics", headers={"X-Request-ID": "req-m"})
    assert excluded.headers["x-request-id"] == "req-m"
    assert excluded.json() == {"request_id": "req-m"}


@get("/broken")
async def broken() -> None:
    raise RuntimeError("a bug")


@get("/refused")
async def refused() -> None:
    raise HTTPException(status_code=429, detail="slow down", headers={"Retry-After": "3"})


@get("/typed")
async def typed(number: FromQuery[int]) -> dict[str, int]:
    return {"number": number}


ERRORS = ["/missing", "/broken", "/refused", "/typed?number=abc", "/nowhere"]


async def error_answers(app: Litestar) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    found = []
    async with AsyncTestClient(app) as client:
        for path in ERRORS:
            response = await client.get(path, headers={"X-Request-ID": "req-e", "Origin": "https://a.test"})
            kept = [(k, v) for k, v in response.headers.multi_items() if k not in ("date", "content-length")]
            found.append((response.status_code, kept, response.content))
    return found


async def test_errors_are_answered_as_with_litestars_exception_middlewares() -> None:
    config = PrometheusConfig(app_name="door", prefix="door_errors_http", group_path=True)
    handlers = [missing, broken, refused, typed]
    cors = CORSConfig(allow_origin_regex=r"^https://a\.test$")
    ours = ProxyApp(handlers, middleware=[front_door(config, 1.0)], cors_config=cors, logging_config=None)
    assert type(ours.asgi_handler) is LeanCORSMiddleware
    assert type(ours.asgi_handler.app) is LeanExceptionHandlerMiddleware
    theirs = Litestar(handlers, middleware=[front_door(config, 1.0)], cors_config=cors, logging_config=None)
    got, expected = await error_answers(ours), await error_answers(theirs)
    assert got == expected
    assert [status for status, _, _ in got] == [404, 500, 429, 400, 404]
    assert all(("x-request-id", "req-e") in headers for _, headers, _ in got[:4])  # routed: through the door
    assert ("retry-after", "3") in got[2][1]


@get("/stream", media_type="text/event-stream")
async def stream() -> Stream:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b"data: a\n\n", b"data: b\n\n"):
            yield part

    return Stream(parts())


@asgi("/raw", copy_scope=False)
async def raw(scope: Scope, receive: Receive, send: Send) -> None:
    # the send a route gets is the request's one wrapper, made by the outermost middleware (CORS)
    shared = isinstance(send, Sent) and send.cors is not None and scope.get(SENT) is send  # type: ignore[call-overload]
    body = b"shared" if shared else b"stacked"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def test_answers_through_one_shared_send_are_litestars_with_the_door() -> None:
    """CORS headers, the request id, streams: the same as through Litestar's own middlewares,
    with a single ``send`` wrapper for the CORS, exception and front-door middlewares."""
    config = PrometheusConfig(app_name="door", prefix="door_shared_http", group_path=True)
    handlers = [seen, stream, raw]
    cors = CORSConfig(allow_origins=[], allow_origin_regex=r"^https://a\.test$", expose_headers=["X-Request-ID"])
    ours = ProxyApp(handlers, middleware=[front_door(config, 1.0)], cors_config=cors, logging_config=None)
    theirs = Litestar(handlers, middleware=[front_door(config, 1.0)], cors_config=cors, logging_config=None)
    answers = []
    for app in (ours, theirs):
        found = []
        async with AsyncTestClient(app) as client:
            for path, origin in [
                ("/seen", "https://a.test"),
                ("/stream", "https://a.test"),
                ("/seen", "https://b.test"),
            ]:
                response = await client.get(path, headers={"X-Request-ID": "req-s", "Origin": origin})
                kept = [(k, v) for k, v in response.headers.multi_items() if k not in ("date", "content-length")]
                found.append((response.status_code, kept, response.content))
            found.append(((await client.get("/raw", headers={"Origin": "https://a.test"})).content, [], b""))
        answers.append(found)
    got, expected = answers
    assert got[:3] == expected[:3]
    assert ("access-control-allow-origin", "https://a.test") in got[1][1] and ("x-request-id", "req-s") in got[1][1]
    assert got[1][2] == b"data: a\n\ndata: b\n\n"
    assert got[3][0] == b"shared" and expected[3][0] == b"stacked"
