"""Reading an SSE response the way a browser does, noting when each event arrived, and judging it.

How "unbuffered" is decided (the doctor cannot see the server, only the arrivals):

- The proxy sends ``run.started`` the moment a turn begins, before the model has said anything,
  and ``done`` after the model finished. Streamed unbuffered, the events are spread over the
  reply's duration; collected by something on the way, they all arrive together at the end.
- So the stream counts as unbuffered when the first event arrives early and the events span a
  good part of the time the reply took: ``done - first event >= SPREAD_SHARE * (done - request)``,
  and the deltas arrive in at least ``MIN_BURSTS`` separate moments.
- A reply quicker than ``MIN_JUDGED_SECONDS`` proves nothing either way and is reported as a
  warning. Against the demo (the simulator answers) the doctor therefore asks for a paced reply,
  ``[[pace:ttft=200,gap=200,tokens=8]]`` (~1.6 s, a delta every 0.2 s); against a real model
  it asks a plain short question and judges whatever the model streams.
- Heartbeats (``: ping`` comments) only come after ``PROXY_HEARTBEAT_INTERVAL`` seconds of
  silence; ``--idle`` makes the demo stay quiet that long so they can be seen, and checks that
  they arrive spread out rather than bunched up with the reply.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from proxy.turns.events import DONE, RUN_STARTED

SPREAD_SHARE = 0.3
MIN_BURSTS = 3
MIN_JUDGED_SECONDS = 0.4
BURST_GAP = 0.03  # arrivals closer than this count as one moment


@dataclass(frozen=True, slots=True)
class Arrival:
    at: float  # seconds since the request was sent
    event: str | None  # the ``event:`` name; None for a comment-only block
    comment: bool = False


@dataclass(slots=True)
class StreamTrace:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    headers_at: float = 0.0  # the response head arrived (time to first byte, near enough)
    arrivals: list[Arrival] = field(default_factory=list)
    ended_at: float = 0.0
    body_bytes: int = 0
    text: str = ""  # the body, when the answer was not an event stream (an error, say)

    @property
    def events(self) -> list[Arrival]:
        return [a for a in self.arrivals if a.event is not None]

    @property
    def comments(self) -> list[Arrival]:
        return [a for a in self.arrivals if a.comment]

    @property
    def first_event_at(self) -> float | None:
        events = self.events
        return events[0].at if events else None

    @property
    def done_at(self) -> float | None:
        done = [a.at for a in self.arrivals if a.event == DONE]
        return done[-1] if done else None

    def event_names(self) -> list[str]:
        return [a.event for a in self.events if a.event]


def _block(text: str) -> tuple[str | None, bool]:
    name, comment = None, False
    for line in text.split("\n"):
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith(":"):
            comment = True
        elif line.startswith("data:") and name is None:
            name = "message"  # a data-only frame (the old protocol): the default event type
    return name, comment


async def read_stream(client: Any, method: str, url: str, **kwargs: Any) -> StreamTrace:
    """Send the request and note the arrival time of every SSE block until the stream ends."""
    trace = StreamTrace()
    start = time.monotonic()
    async with client.stream(method, url, **kwargs) as response:
        trace.status = response.status_code
        trace.headers = {k.lower(): v for k, v in response.headers.items()}
        trace.headers_at = time.monotonic() - start
        if not trace.headers.get("content-type", "").startswith("text/event-stream"):
            trace.text = (await response.aread()).decode("utf-8", errors="replace")[:500]
            trace.ended_at = time.monotonic() - start
            return trace
        pending = ""
        async for chunk in response.aiter_bytes():
            now = time.monotonic() - start
            trace.body_bytes += len(chunk)
            pending += chunk.decode("utf-8", errors="replace").replace("\r\n", "\n")
            while "\n\n" in pending:
                block, pending = pending.split("\n\n", 1)
                if block.strip():
                    name, comment = _block(block)
                    trace.arrivals.append(Arrival(now, name, comment))
        trace.ended_at = time.monotonic() - start
    return trace


def bursts(times: list[float], gap: float = BURST_GAP) -> int:
    """How many separate moments these arrivals form (arrivals within ``gap`` are one)."""
    count, last = 0, None
    for t in sorted(times):
        if last is None or t - last > gap:
            count += 1
        last = t
    return count


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str  # PASS | FAIL | WARN
    detail: str


def judge_spread(trace: StreamTrace) -> Verdict:
    """Did the events arrive while the reply was written, or all at the end? See the module doc."""
    first, done = trace.first_event_at, trace.done_at
    if first is None or done is None:
        return Verdict("FAIL", f"the stream ended without its events (got {trace.event_names() or 'none'})")
    deltas = [a.at for a in trace.events if a.event not in (RUN_STARTED, DONE)]
    moments = bursts(deltas)
    spread = done - first
    detail = (
        f"first byte {trace.headers_at * 1000:.0f} ms, first event {first * 1000:.0f} ms, "
        f"done {done * 1000:.0f} ms; {len(deltas)} events in {moments} separate moment(s)"
    )
    if done < MIN_JUDGED_SECONDS:
        return Verdict("WARN", detail + "; the reply was too quick to tell (try the demo, or a longer --message)")
    if spread < SPREAD_SHARE * done or (len(deltas) >= MIN_BURSTS and moments < MIN_BURSTS):
        return Verdict("FAIL", detail + "; the events arrived together at the end: the stream is buffered")
    return Verdict("PASS", detail)


def judge_heartbeat(trace: StreamTrace, idle: float) -> Verdict:
    """Pings must arrive during the quiet period, before the reply, and not all in one moment."""
    pings = [a.at for a in trace.comments]
    first_reply = next((a.at for a in trace.events if a.event != RUN_STARTED), trace.ended_at)
    if not pings:
        return Verdict(
            "FAIL",
            f"no ': ping' comment during {idle:.0f} s of silence; is PROXY_HEARTBEAT_INTERVAL shorter than --idle?",
        )
    early = [t for t in pings if t < first_reply - BURST_GAP]
    detail = (
        f"{len(pings)} ping(s) at {', '.join(f'{t:.1f}' for t in pings[:6])} s; the reply began at {first_reply:.1f} s"
    )
    if not early or (len(pings) > 1 and bursts(pings) == 1):
        return Verdict("FAIL", detail + ": the pings were held back with the reply (buffered)")
    return Verdict("PASS", detail)
