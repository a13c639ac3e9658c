"""The access line: one per request when it ends, with what uvicorn's had (but the query string)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from litestar import get
from litestar.config.cors import CORSConfig
from litestar.params import FromPath
from litestar.plugins.prometheus import PrometheusConfig
from litestar.response import Stream
from litestar.testing import AsyncTestClient

from proxy.api.middleware import front_door
from proxy.app import ProxyApp
from proxy.observability.access import LOGGER, OFF, AccessLog
from proxy.observability.logging import JsonFormatter


@get("/things/{name:str}")
async def thing(name: FromPath[str]) -> dict[str, str]:
    return {"name": name}


@get("/broken")
async def broken() -> None:
    raise RuntimeError("a bug")


@get("/stream")
async def stream() -> Stream:
    async def frames() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"

    return Stream(frames(), media_type="text/event-stream")


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def lines() -> Iterator[list[dict[str, object]]]:
    handler = Lines()
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def app(access: AccessLog, prefix: str) -> ProxyApp:
    metrics = PrometheusConfig(app_name="access", prefix=prefix, group_path=True)
    made = ProxyApp(
        [thing, broken, stream],
        middleware=[front_door(metrics, 1.0, access)],
        cors_config=CORSConfig(allow_origin_regex=r"^https://a\.test$"),
        logging_config=None,
    )
    made.log_access(access)
    return made


async def test_every_request_gets_one_line_when_it_ends(lines: list[dict[str, object]]) -> None:
    async with AsyncTestClient(app(AccessLog(), "access_on_http")) as client:
        await client.get("/things/tent?q=what+a+visitor+typed", headers={"X-Request-ID": "req-1"})
        await client.get("/broken")
        await client.get("/stream")
        await client.get("/nowhere")  # refused by the router: no route's front door saw it
        await client.delete("/things/tent")  # a method the route lacks
        await client.options(
            "/things/tent", headers={"Origin": "https://a.test", "Access-Control-Request-Method": "GET"}
        )  # a preflight, answered by the CORS middleware
    seen = [(line["method"], line["path"], line["status"]) for line in lines]
    assert seen == [
        ("GET", "/things/tent", 200),
        ("GET", "/broken", 500),
        ("GET", "/stream", 200),
        ("GET", "/nowhere", 404),
        ("DELETE", "/things/tent", 405),
        ("OPTIONS", "/things/tent", 204),
    ]
    first = lines[0]
    assert first["logger"] == "proxy.access" and first["level"] == "info"
    assert first["msg"] == 'testclient:50000 - "GET /things/tent HTTP/1.1" 200'  # uvicorn's, without the query
    assert first["request_id"] == "req-1"
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert not [line for line in lines if "visitor" in json.dumps(line)]


async def test_off_writes_none(lines: list[dict[str, object]]) -> None:
    async with AsyncTestClient(app(OFF, "access_off_http")) as client:
        assert (await client.get("/things/tent")).status_code == 200
        assert (await client.get("/nowhere")).status_code == 404
    assert lines == []


async def test_a_quieted_logger_writes_none(lines: list[dict[str, object]]) -> None:
    logging.getLogger(LOGGER).setLevel(logging.WARNING)
    async with AsyncTestClient(app(AccessLog(), "access_quiet_http")) as client:
        assert (await client.get("/things/tent")).status_code == 200
    assert lines == []
