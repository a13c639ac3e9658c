"""Our HTTP request metrics (counted by ``FrontDoor``) say what Litestar's Prometheus middleware says,
series for series."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.response import Stream
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from proxy.api.middleware import front_door
from proxy.observability.metrics import RequestSeries


@post("/things/{thing_id:str}", status_code=201)
async def make_thing(thing_id: FromPath[str]) -> dict[str, str]:
    return {"id": thing_id}


@get("/things/{thing_id:str}")
async def get_thing(thing_id: FromPath[str]) -> dict[str, str]:
    if thing_id == "missing":
        raise NotFoundException("no such thing")
    if thing_id == "broken":
        raise RuntimeError("a bug")
    return {"id": thing_id}


@get("/stream", media_type="text/event-stream")
async def stream() -> Stream:
    async def parts() -> AsyncIterator[bytes]:
        for word in (b"a", b"b", b"c"):
            yield word

    return Stream(parts())


@get("/metrics")
async def excluded() -> str:
    return "not counted"


def config(prefix: str) -> PrometheusConfig:
    return PrometheusConfig(
        app_name="shop", prefix=prefix, group_path=True, exclude=["/metrics"], middleware_class=PrometheusMiddleware
    )


def app(prefix: str, ours: bool) -> Litestar:
    middleware = front_door(config(prefix), pool_wait=1.0) if ours else config(prefix).middleware
    return Litestar([make_thing, get_thing, stream, excluded], middleware=[middleware], logging_config=None)


async def drive(app: Litestar) -> None:
    async with AsyncTestClient(app) as client:
        for thing in ("a", "b"):
            assert (await client.post(f"/things/{thing}")).status_code == 201
        for thing in ("a", "missing", "broken", "broken"):
            await client.get(f"/things/{thing}")
        assert (await client.get("/stream")).text == "abc"
        assert (await client.get("/metrics")).text == "not counted"


def series(prefix: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the metrics named ``prefix_*`` except durations' sums (timing differs)."""
    found = {}
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name.startswith(f"{prefix}_") and not sample.name.endswith(("_sum", "_created")):
                key = (sample.name.removeprefix(prefix), tuple(sorted(sample.labels.items())))
                if not sample.name.endswith("_bucket") or sample.labels.get("le") == "+Inf":
                    found[key] = sample.value
    return found


async def test_the_same_series_and_counts_as_litestars_middleware() -> None:
    await drive(app("theirs_http", ours=False))
    await drive(app("ours_http", ours=True))
    ours, theirs = series("ours_http"), series("theirs_http")
    assert ours == theirs
    assert ours[("_requests_total", labels("GET", "/things/{thing_id}", "500"))] == 2
    assert ours[("_requests_error_total", labels("GET", "/things/{thing_id}", "500"))] == 2
    assert ours[("_requests_total", labels("GET", "/things/{thing_id}", "404"))] == 1
    assert ours[("_requests_in_progress", labels("POST", "/things/{thing_id}", "200"))] == 0
    assert ours[("_request_duration_seconds_count", labels("GET", "/stream", "200"))] == 1
    assert not [key for key in ours if dict(key[1])["path"] == "/metrics"]  # excluded by the config


def labels(method: str, path: str, status: str) -> tuple[tuple[str, str], ...]:
    return (("app_name", "shop"), ("method", method), ("path", path), ("status_code", status))


def test_configurations_it_would_count_differently_are_refused() -> None:
    with pytest.raises(ValueError, match="grouped paths"):
        RequestSeries(PrometheusConfig(app_name="shop", prefix="refused_http", group_path=False))
    with pytest.raises(ValueError, match="grouped paths"):
        RequestSeries(PrometheusConfig(app_name="shop", prefix="refused_http", group_path=True, labels={"a": "b"}))
