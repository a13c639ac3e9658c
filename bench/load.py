"""The load generator, run as its own process: ``python -m bench.load < spec.json > result.json``.

Two modes, chosen by ``spec["mode"]``:

``chats``
    ``concurrency`` virtual visitors, each on its own keep-alive connection, chat after chat for
    ``duration`` seconds (closed loop). Their first chats start spread over ``stagger`` seconds
    (one reply's length), so requests arrive evenly rather than in lock-step bursts; only chats
    started after the stagger are measured. Time to first token runs from sending the message
    request to the arrival of the first content delta; for our proxy the thread is created first,
    on the same connection, and timed apart (``setup``).
``burst``
    ``count`` visitors connect first, then all start a chat at one instant (``rounds`` times, each
    round after the last ended): what a newsletter or a sale does. Time to first token runs from
    that instant (``start_to_first``; for our proxy the thread's creation is in it, as it is in a
    new visitor's first message), and from the message request (``ttft``) as in ``chats``.
``arrivals``
    New visitors arrive at random (Poisson, ``rate`` a second, for ``duration`` seconds), each on
    a new connection, chatting once: an open loop, so a slow target is not spared arrivals the way
    a closed loop spares it. Time to first token runs from the arrival's scheduled instant, so a
    late load generator would show (``late_ms`` says how late arrivals were sent).
``idle``
    Opens ``count`` streams whose reply stalls after its first tokens, so the server holds them
    open with nothing but heartbeats; prints ``{"phase": "held", ...}`` once all are open, waits
    for a line on stdin (the orchestrator measures memory meanwhile), then closes them and reports.

``kind`` is ``openai`` (Chat Completions: the simulator itself, or LiteLLM) or ``proxy`` (our v1 API).
For ``proxy``, ``start`` says how a new chat begins: ``one-request`` (``POST /v1/threads`` with the
first message, answered with its stream, as the widget does) or ``two-step`` (``POST /v1/threads``,
then the message: what checkouts before the one-request start understand).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import resource
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bench.client import Connection, HttpError

_CONTENT = re.compile(rb'"content": ?"(?!")')  # a chat.completion.chunk carrying text
now = time.perf_counter


@dataclass(slots=True)
class Sample:
    started: float
    ttft: float | None = None
    start_to_first: float | None = None  # from ``started`` (a burst's instant, an arrival) to the first token
    total: float | None = None
    setup: float | None = None
    deltas: int = 0
    pings: int = 0
    refusals: int = 0  # 503s with Retry-After (a worker shedding load) waited out before the reply
    error: str | None = None


# -- one chat ------------------------------------------------------------------------------------


async def _events(conn: Connection, headers: dict[str, str]) -> AsyncIterator[tuple[float, bytes]]:
    """SSE events (separators normalised to ``\\n``) with the time their last byte arrived."""
    buffer = b""
    async for piece in conn.body(headers):
        arrived = now()
        buffer += piece.replace(b"\r\n", b"\n") if b"\r" in piece else piece
        if b"\n\n" not in buffer:
            continue
        *complete, buffer = buffer.split(b"\n\n")
        for event in complete:
            yield arrived, event


class Target:
    """How to send one message to a kind of server and read its stream."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.kind = spec["kind"]
        self.host, self.port = spec["host"], spec["port"]
        self.message = spec["message"]
        self.min_deltas = spec.get("min_deltas", 1)
        self.one_request = False
        if self.kind == "openai":
            self.headers = {"Authorization": f"Bearer {spec.get('api_key', 'sk-bench')}"}
            self.chat_body = json.dumps(
                {
                    "model": spec["model"],
                    "messages": [{"role": "user", "content": self.message}],
                    "stream": True,
                    "stream_options": {"include_usage": True},
                }
            ).encode()
        else:
            self.headers = {"Origin": spec["origin"]}
            self.chat_body = json.dumps({"content": self.message}).encode()
            self.one_request = spec.get("start", "two-step") == "one-request"
            if self.one_request:
                self.chat_body = json.dumps({"message": self.message}).encode()

    def connection(self) -> Connection:
        return Connection(self.host, self.port, self.headers)

    async def open(self, conn: Connection, sample: Sample) -> tuple[float, dict[str, str]] | None:
        """Send the message (creating a thread first for our proxy, or with it); the stream's headers or None."""
        if self.kind == "proxy" and self.one_request:
            path = "/v1/threads"  # a new thread with its first message: 201 and the reply's stream
        elif self.kind == "proxy":
            await conn.send("POST", "/v1/threads", b"{}")
            status, headers = await conn.head()
            body = await conn.read_all(headers)
            if status != 201:
                sample.error = f"thread_http_{status}"
                return None
            sample.setup = now() - sample.started
            path = f"/v1/threads/{json.loads(body)['thread_id']}/messages"
        else:
            path = "/v1/chat/completions"
        sent = now()  # the visitor's wait counts from the first attempt, refusals included
        while True:
            await conn.send("POST", path, self.chat_body)
            status, headers = await conn.head()
            if status in (200, 201):
                return sent, headers
            await conn.read_all(headers)
            retry_after = headers.get("retry-after")
            if status != 503 or retry_after is None:
                sample.error = f"http_{status}"
                return None
            # a server shedding load: wait as told and send again, as the widget does (up to a second
            # more, at random, so that visitors refused together do not all come back together)
            sample.refusals += 1
            await asyncio.sleep(float(retry_after) + random.random())

    def read_event(self, event: bytes, sample: Sample) -> bool:
        """Count one SSE event into the sample; True once the stream's terminal event came."""
        if self.kind == "proxy":
            if event.startswith(b":"):
                sample.pings += 1
                return False
            if b"event: message.delta" in event:
                # the deltas that wait for one write come as one (their text joined): count the
                # streamed words (the simulator's tokens) rather than the frames
                data = event.split(b"data: ", 1)[-1]
                try:
                    sample.deltas += max(1, len(json.loads(data)["delta"].split()))
                except (ValueError, KeyError, TypeError):
                    sample.deltas += 1
                return False
            if b"event: error" in event:
                data = event.split(b"data: ", 1)[-1]
                with contextlib.suppress(ValueError):
                    sample.error = "proxy_" + str(json.loads(data).get("code"))
                return False
            return b"event: done" in event
        if event.startswith(b"data: [DONE]"):
            return True
        if _CONTENT.search(event):
            sample.deltas += 1
        elif b'"error"' in event:
            sample.error = "stream_error"
        return False


async def one_chat(target: Target, conn: Connection, timeout: float, started: float | None = None) -> Sample:
    sample = Sample(started=now() if started is None else started)
    try:
        async with asyncio.timeout(timeout):
            opened = await target.open(conn, sample)
            if opened is None:
                return sample
            sent, headers = opened
            done = False
            async for arrived, event in _events(conn, headers):
                had = sample.deltas
                done = target.read_event(event, sample) or done
                if had == 0 and sample.deltas:
                    sample.ttft = arrived - sent
                    sample.start_to_first = arrived - sample.started
            sample.total = now() - sent
            if sample.error is None and not done:
                sample.error = "no_terminal_event"
            elif sample.error is None and sample.deltas < target.min_deltas:
                sample.error = f"short_reply_{sample.deltas}"
    except TimeoutError:
        conn.close()
        sample.error = "timeout"
    except (HttpError, OSError) as exc:
        conn.close()
        sample.error = type(exc).__name__
    return sample


# -- closed-loop chats ---------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarize(values: list[float]) -> dict[str, float | None]:
    ms = [v * 1000 for v in values]
    return {
        "p50": percentile(ms, 0.50),
        "p90": percentile(ms, 0.90),
        "p99": percentile(ms, 0.99),
        "max": max(ms) if ms else None,
        "mean": sum(ms) / len(ms) if ms else None,
    }


async def run_chats(spec: dict[str, Any]) -> dict[str, Any]:
    target = Target(spec)
    concurrency, duration, stagger = spec["concurrency"], spec["duration"], spec["stagger"]
    timeout = spec.get("timeout", 30.0)
    start = now()
    measure_from, deadline = start + stagger, start + stagger + duration
    samples: list[Sample] = []
    in_flight: dict[int, float] = {}  # visitor -> start of its unfinished chat
    unmeasured = 0

    async def visitor(index: int) -> None:
        nonlocal unmeasured
        await asyncio.sleep(stagger * index / concurrency)
        conn = target.connection()
        try:
            while now() < deadline:
                in_flight[index] = now()
                sample = await one_chat(target, conn, timeout)
                del in_flight[index]
                if sample.started >= measure_from or sample.error is not None:  # errors always count
                    samples.append(sample)
                else:
                    unmeasured += 1
                if sample.error is not None:
                    await asyncio.sleep(0.1)  # no tight loop against a refusing server
        finally:
            conn.close()

    # an overloaded target is given `grace` seconds past the deadline to finish what it started;
    # chats still open then are counted as errors, so that every run ends in bounded time
    try:
        async with asyncio.timeout(stagger + duration + spec.get("grace", 15.0)):
            await asyncio.gather(*(visitor(i) for i in range(concurrency)))
    except TimeoutError:
        samples.extend(Sample(started=t, error="unfinished_at_deadline") for t in in_flight.values())
    elapsed = now() - measure_from
    ok = [s for s in samples if s.error is None]
    errors: dict[str, int] = {}
    for s in samples:
        if s.error is not None:
            errors[s.error] = errors.get(s.error, 0) + 1
    return {
        "concurrency": concurrency,
        "chats": len(samples),
        "ok": len(ok),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "refusals": sum(s.refusals for s in samples),
        "refused_chats": sum(1 for s in samples if s.refusals),
        "warmup_chats": unmeasured,  # finished during the stagger: not measured, but the servers did them
        "completed_chats": len(ok) + unmeasured,
        "measured_seconds": elapsed,
        "chats_per_second": len(ok) / elapsed if elapsed > 0 else None,
        "ttft_ms": summarize([s.ttft for s in ok if s.ttft is not None]),
        "completion_ms": summarize([s.total for s in ok if s.total is not None]),
        "setup_ms": summarize([s.setup for s in ok if s.setup is not None]) if target.kind == "proxy" else None,
        "deltas_per_chat": (sum(s.deltas for s in ok) / len(ok)) if ok else None,
    }


# -- bursts and arrivals (new chats) -------------------------------------------------------------


def _outcome(samples: list[Sample]) -> dict[str, Any]:
    ok = [s for s in samples if s.error is None]
    errors: dict[str, int] = {}
    for s in samples:
        if s.error is not None:
            errors[s.error] = errors.get(s.error, 0) + 1
    return {
        "chats": len(samples),
        "ok": len(ok),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "refused_chats": sum(1 for s in samples if s.refusals),
        "start_to_first_ms": summarize([s.start_to_first for s in ok if s.start_to_first is not None]),
        "ttft_ms": summarize([s.ttft for s in ok if s.ttft is not None]),
        "completion_ms": summarize([s.total for s in ok if s.total is not None]),
        "deltas_per_chat": (sum(s.deltas for s in ok) / len(ok)) if ok else None,
    }


async def _one_burst(target: Target, count: int, timeout: float) -> list[Sample]:
    conns = [target.connection() for _ in range(count)]
    release = asyncio.Event()
    instant: list[float] = []

    async def chat(conn: Connection) -> Sample:
        await release.wait()
        return await one_chat(target, conn, timeout, started=instant[0])

    try:
        # connected before the instant (one that failed tries again with its request, and counts)
        await asyncio.gather(*(conn.connect() for conn in conns), return_exceptions=True)
        chats = [asyncio.create_task(chat(conn)) for conn in conns]
        await asyncio.sleep(0.05)  # every task waits on the event
        instant.append(now())
        release.set()
        return list(await asyncio.gather(*chats))
    finally:
        for conn in conns:
            conn.close()


async def run_burst(spec: dict[str, Any]) -> dict[str, Any]:
    """``count`` chats released together, ``rounds`` times; every chat of every round is one sample."""
    target = Target(spec)
    samples: list[Sample] = []
    for _ in range(spec.get("rounds", 1)):
        samples += await _one_burst(target, spec["count"], spec.get("timeout", 30.0))
        await asyncio.sleep(spec.get("pause", 0.5))
    return {"count": spec["count"], "rounds": spec.get("rounds", 1)} | _outcome(samples)


async def run_arrivals(spec: dict[str, Any]) -> dict[str, Any]:
    """Poisson arrivals at ``rate`` a second for ``duration`` seconds, one chat per new connection."""
    target = Target(spec)
    rate, duration, timeout = spec["rate"], spec["duration"], spec.get("timeout", 30.0)
    rng = random.Random(spec.get("seed", 1))
    samples: list[Sample] = []
    late: list[float] = []
    in_flight: dict[int, float] = {}

    async def arrival(index: int, at: float) -> None:
        late.append(now() - at)
        in_flight[index] = at
        conn = target.connection()
        try:
            samples.append(await one_chat(target, conn, timeout, started=at))
        finally:
            conn.close()
            del in_flight[index]

    tasks: list[asyncio.Task[None]] = []
    start = now()
    at, index = start + rng.expovariate(rate), 0
    while at < start + duration:
        delay = at - now()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(arrival(index, at)))
        at, index = at + rng.expovariate(rate), index + 1
    _, pending = await asyncio.wait(tasks, timeout=spec.get("grace", 10.0)) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    unfinished = list(in_flight.values())
    await asyncio.gather(*pending, return_exceptions=True)
    samples.extend(Sample(started=t, error="unfinished_at_deadline") for t in unfinished)
    return {
        "rate": rate,
        "duration": duration,
        "arrived": len(tasks),
        "late_ms": summarize(late),
    } | _outcome(samples)


# -- idle streams --------------------------------------------------------------------------------


async def run_idle(spec: dict[str, Any]) -> dict[str, Any]:
    """Open streams that go quiet after their first tokens; hold them until told; close them."""
    target = Target(spec)
    count, timeout = spec["count"], spec.get("timeout", 60.0)
    gate = asyncio.Semaphore(spec.get("open_concurrency", 100))
    samples = [Sample(started=0.0) for _ in range(count)]
    readers: list[asyncio.Task[None]] = []
    conns: list[Connection] = []

    async def follow(conn: Connection, events: AsyncIterator[tuple[float, bytes]], sample: Sample) -> None:
        try:
            async for _, event in events:
                if target.read_event(event, sample):
                    sample.error = sample.error or "ended_early"
                    return
            sample.error = sample.error or "ended_early"
        except (HttpError, OSError):
            sample.error = sample.error or "broken"

    async def open_one(index: int) -> None:
        sample = samples[index]
        conn = target.connection()
        conns.append(conn)
        async with gate:
            sample.started = now()
            try:
                async with asyncio.timeout(timeout):
                    opened = await target.open(conn, sample)
                    if opened is None:
                        return
                    sent, headers = opened
                    events = _events(conn, headers)
                    async for arrived, event in events:
                        if target.read_event(event, sample):
                            sample.error = sample.error or "ended_early"
                            return
                        if sample.deltas:
                            sample.ttft = arrived - sent
                            break
            except TimeoutError:
                sample.error = "timeout"
                return
            except (HttpError, OSError) as exc:
                sample.error = type(exc).__name__
                return
        if sample.ttft is not None and sample.error is None:
            readers.append(asyncio.create_task(follow(conn, events, sample)))

    began = now()
    try:  # bounded: a server that opens streams slowly is measured with those it managed
        async with asyncio.timeout(spec.get("open_limit", 120.0)):
            await asyncio.gather(*(open_one(i) for i in range(count)))
    except TimeoutError:
        for sample in samples:
            if sample.ttft is None and sample.error is None:
                sample.error = "not_opened_in_time"
    open_seconds = now() - began
    opened = sum(1 for s in samples if s.ttft is not None and s.error is None)
    print(json.dumps({"phase": "held", "opened": opened, "open_seconds": open_seconds}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    still_open = sum(1 for s in samples if s.ttft is not None and s.error is None)
    pings = sorted(s.pings for s in samples if s.ttft is not None)
    for task in readers:
        task.cancel()
    for conn in conns:
        conn.close()
    await asyncio.gather(*readers, return_exceptions=True)
    errors: dict[str, int] = {}
    for s in samples:
        if s.error is not None:
            errors[s.error] = errors.get(s.error, 0) + 1
    return {
        "phase": "closed",
        "count": count,
        "opened": opened,
        "still_open": still_open,
        "open_seconds": open_seconds,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "with_ping": sum(1 for p in pings if p > 0),
        "pings_min": pings[0] if pings else 0,
        "first_token_ms": summarize([s.ttft for s in samples if s.ttft is not None]),
    }


# -- entry point ---------------------------------------------------------------------------------


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> int:
    spec = json.loads(sys.stdin.readline())
    raise_fd_limit()
    runner = {"idle": run_idle, "burst": run_burst, "arrivals": run_arrivals}.get(spec["mode"], run_chats)
    try:
        import uvloop

        result = uvloop.run(runner(spec))
    except ImportError:
        result = asyncio.run(runner(spec))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = (
    "Sample",
    "Target",
    "main",
    "one_chat",
    "percentile",
    "run_arrivals",
    "run_burst",
    "run_chats",
    "run_idle",
    "summarize",
)
