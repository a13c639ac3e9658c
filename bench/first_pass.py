"""The first pass of a new chat's request, in-process: µs of CPU per ``POST /v1/threads``.

What a burst of new chats waits for is the serial first pass of every request ahead of it: the
front door, Litestar's routing, dependencies and body, admission, the limits, the response's start
and the access line. This drives the application's ASGI callable directly, as uvicorn would, with
the request the bench's burst sends (``Origin`` of a configured site, ``{"message": ...}``), a turn
manager that opens nothing (the turn, its statement and the provider are not the first pass's)
and a stream that ends at once. Everything else is the product's: settings, tenants, the rate
limiter (in memory), CORS, the metrics, the JSON access line (written to ``/dev/null``).

    .venv/bin/python -m bench.first_pass [--size 200] [--bursts 10] [--rounds 5] [--profile]

Run from another checkout's directory with that checkout's interpreter to compare the two (the
file needs nothing of this one's): ``cd ../other && .venv/bin/python ../this/bench/first_pass.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import json
import logging
import os
import pstats
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

_TENANTS = """
[tenants.bench]
domains = ["bench.local"]
engine = "chat"
model = "bench-model"
api_key_env = "BENCH_PROVIDER_KEY"
base_url = "http://127.0.0.1:9/v1"

[tenants.bench.limits]
messages_per_minute_per_visitor = 100000000
messages_per_minute_per_ip = 100000000
messages_per_minute_per_tenant = 100000000
threads_per_hour_per_ip = 100000000
"""
BODY = json.dumps({"message": "Hello! [[pace:ttft=200,gap=20,tokens=40]]"}).encode()


class _Gate:
    """Lets ``count`` waiters through together, once all of them arrived, noting the CPU time then."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.arrived = 0
        self.opened = asyncio.get_running_loop().create_future()
        self.at = 0.0

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived == self.count:
            self.at = time.process_time()
            self.opened.set_result(None)
        await self.opened


class _Turns:
    """A turn manager whose turns open once every request of the burst asked for one, and whose
    streams end once every response started (what happens between is not the first pass's)."""

    accepting = True

    def __init__(self) -> None:
        self.opening: _Gate | None = None
        self.started: _Gate | None = None

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        yield

    async def open(self, ask: Any) -> Any:
        assert self.opening is not None
        await self.opening.wait()
        return SimpleNamespace(thread_id=ask.thread_id, run_id="run_bench", job=None)

    async def follow(self, run: Any, *, heartbeat: float | None, start: int = 0) -> AsyncIterator[Any]:
        assert self.started is not None
        await self.started.wait()
        return
        yield


def build() -> Any:
    from proxy.app import create_app
    from proxy.limits.backends import MemoryBackend
    from proxy.limits.limiter import RateLimiter
    from proxy.observability.logging import configure_logging
    from proxy.services import Services
    from proxy.settings import Settings
    from proxy.tenants import load_tenants

    folder = Path(tempfile.mkdtemp(prefix="first-pass-"))
    (folder / "tenants.toml").write_text(_TENANTS)
    os.environ["BENCH_PROVIDER_KEY"] = "sk-bench"
    settings = Settings(tenants_file=folder / "tenants.toml")
    # a served worker's logging: JSON lines, batched (to /dev/null here)
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    configure_logging("info", "json", batched=True)
    tenants = load_tenants(settings)
    app = create_app(settings, tenants=tenants)
    app.state.services = services = Services(
        settings=settings,
        tenants=tenants,
        db=None,  # type: ignore[arg-type]
        tools=None,  # type: ignore[arg-type]
        engines={},
        turns=_Turns(),  # type: ignore[arg-type]
        limiter=RateLimiter(MemoryBackend(time.time), trusted_proxies=settings.limits.trusted_proxies),
    )
    owner = getattr(app.dependencies["services"].dependency, "__self__", None)
    if owner is not None:  # the dependency's holder, where the app has one (what the lifespan sets)
        owner.current = services
    return app


def scope_for(port: int) -> dict[str, Any]:
    from proxy.serving import ON_DISCONNECT

    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", port),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": "/v1/threads",
        "raw_path": b"/v1/threads",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"origin", b"http://bench.local"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ],
        "state": {},
        ON_DISCONNECT: lambda callback: None,
    }


async def one(app: Any, port: int, statuses: list[int]) -> None:
    body = {"type": "http.request", "body": BODY, "more_body": False}
    given = False

    async def receive() -> dict[str, Any]:
        nonlocal given
        if not given:
            given = True
            return body
        await asyncio.Event().wait()  # the client stays
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope_for(port), receive, send)


async def burst(app: Any, turns: _Turns, size: int, statuses: list[int]) -> tuple[float, float, float]:
    """``size`` requests at once; the CPU seconds of each phase: up to the turn's opening (the
    first pass), from there to the response's start, and the rest (the stream's end, the access
    line, the metrics)."""
    turns.opening, turns.started = _Gate(size), _Gate(size)
    began = time.process_time()
    await asyncio.gather(*(one(app, 40000 + i, statuses) for i in range(size)))
    ended = time.process_time()
    return turns.opening.at - began, turns.started.at - turns.opening.at, ended - turns.started.at


async def run(app: Any, size: int, bursts: int, rounds: int, profile: bool) -> dict[str, Any]:
    turns: _Turns = app.state.services.turns
    statuses: list[int] = []
    for _ in range(3):  # warm up: caches, the limiter's rules, the first import of anything lazy
        await burst(app, turns, size, statuses)
    assert set(statuses) == {201}, statuses[:5]
    statuses.clear()
    phases: list[tuple[float, float, float]] = []
    profiler = cProfile.Profile() if profile else None
    for _ in range(rounds):
        if profiler is not None:
            profiler.enable()
        spent = [0.0, 0.0, 0.0]
        for _ in range(bursts):
            for i, seconds in enumerate(await burst(app, turns, size, statuses)):
                spent[i] += seconds
        if profiler is not None:
            profiler.disable()
        phases.append(tuple(x / (bursts * size) * 1e6 for x in spent))  # type: ignore[arg-type]
    assert set(statuses) == {201}, {s: statuses.count(s) for s in set(statuses)}
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("FP_SORT", "tottime")).print_stats(
            int(os.environ.get("FP_LINES", "45"))
        )
        sys.__stdout__.write(out.getvalue())  # type: ignore[union-attr]

    def median(values: list[float]) -> float:
        return round(sorted(values)[len(values) // 2], 1)

    return {
        "first_pass_us": [round(p[0], 1) for p in phases],
        "to_response_start_us": [round(p[1], 1) for p in phases],
        "rest_us": [round(p[2], 1) for p in phases],
        "median_first_pass_us": median([p[0] for p in phases]),
        "median_to_start_us": median([p[0] + p[1] for p in phases]),
        "median_whole_us": median([sum(p) for p in phases]),
        "min_first_pass_us": round(min(p[0] for p in phases), 1),
        "min_to_start_us": round(min(p[0] + p[1] for p in phases), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200, help="requests released together")
    parser.add_argument("--bursts", type=int, default=10, help="bursts per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile the measured rounds (slower)")
    args = parser.parse_args()
    sys.path.insert(0, os.getcwd())
    logging.raiseExceptions = True
    app = build()
    # as the app's lifespan does: what start-up made frozen, young collections less often
    from proxy import app as app_module

    gc.collect()
    gc.freeze()
    gc.set_threshold(getattr(app_module, "GC_YOUNG_THRESHOLD", 700), *gc.get_threshold()[1:])
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(run(app, args.size, args.bursts, args.rounds, args.profile))
    result["checkout"] = os.getcwd()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
