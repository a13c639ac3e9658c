"""The doctor's checks: a deployment seen from outside, as a browser on the tenant's site sees it.

Every check talks HTTP to the public URL only, sending what the widget sends (``Origin``, a
visitor id, browser-like ``Accept-Encoding``), so whatever sits in front of the proxy (nginx,
Caddy, a CDN) is part of what is checked. The thread it creates is deleted again.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from proxy.doctor.stream import StreamTrace, judge_heartbeat, judge_spread, read_stream

Status = Literal["PASS", "FAIL", "WARN", "SKIP"]

PACED_MESSAGE = "[[pace:ttft=200,gap=200,tokens=8]] Say hello."
PLAIN_MESSAGE = "Hello! In two short sentences, what can you help me with?"
BROWSER_ENCODINGS = "gzip, deflate, br, zstd"
JS_TYPES = ("text/javascript", "application/javascript", "application/x-javascript", "text/ecmascript")


@dataclass(frozen=True, slots=True)
class CheckResult:
    key: str  # stable name, also the key of its fix
    title: str
    status: Status
    detail: str = ""


@dataclass(slots=True)
class Report:
    url: str
    origin: str
    demo: bool = False
    message: str = ""
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.status != "FAIL" for r in self.results)

    def get(self, key: str) -> CheckResult | None:
        return next((r for r in self.results if r.key == key), None)


def default_origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def site_origin(origin: str | None, url: str) -> str:
    """What a browser sends as ``Origin``: scheme and host (and port), no path, never a bare host."""
    origin = (origin or default_origin(url)).strip()
    if "://" not in origin:
        origin = f"https://{origin}"
    return default_origin(origin)


def _has_token(header: str, token: str) -> bool:
    return token.lower() in {item.strip().lower() for item in header.split(",")}


async def check_widget(client: httpx.AsyncClient) -> CheckResult:
    title = "/widget.js loads (200, JavaScript, ETag)"
    try:
        response = await client.get("/widget.js", headers={"Accept-Encoding": BROWSER_ENCODINGS}, follow_redirects=True)
    except httpx.HTTPError as exc:
        return CheckResult("widget", title, "FAIL", f"request failed: {exc!r}")
    content_type = response.headers.get("content-type", "")
    problems = []
    if response.status_code != 200:
        problems.append(f"status {response.status_code}")
    if content_type.split(";")[0].strip().lower() not in JS_TYPES:
        problems.append(f"Content-Type {content_type or 'missing'}")
    if not response.headers.get("etag"):
        problems.append("no ETag (browsers re-download it on every page)")
    detail = f"{response.status_code}, {content_type or 'no Content-Type'}, ETag {response.headers.get('etag', '-')}"
    return CheckResult("widget", title, "FAIL" if problems else "PASS", "; ".join(problems) or detail)


async def check_preflight(
    client: httpx.AsyncClient, key: str, path: str, origin: str, shown_path: str | None = None
) -> CheckResult:
    title = f"CORS preflight for POST {shown_path or path}"
    wanted_headers = ("content-type", "x-visitor-id")
    try:
        response = await client.options(
            path,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": ", ".join(wanted_headers),
            },
        )
    except httpx.HTTPError as exc:
        return CheckResult(key, title, "FAIL", f"request failed: {exc!r}")
    allow_origin = response.headers.get("access-control-allow-origin")
    methods = response.headers.get("access-control-allow-methods", "")
    allowed = response.headers.get("access-control-allow-headers", "")
    problems = []
    if response.status_code >= 300:
        problems.append(f"status {response.status_code}")
    if allow_origin not in (origin, "*"):
        problems.append(f"Access-Control-Allow-Origin is {allow_origin!r}, not {origin!r}")
    if "*" not in methods and not _has_token(methods, "POST"):
        problems.append(f"POST not in Access-Control-Allow-Methods ({methods or 'missing'})")
    missing = [h for h in wanted_headers if "*" not in allowed and not _has_token(allowed, h)]
    if missing:
        problems.append(f"{', '.join(missing)} not in Access-Control-Allow-Headers ({allowed or 'missing'})")
    detail = f"{response.status_code}, allows {origin}"
    return CheckResult(key, title, "FAIL" if problems else "PASS", "; ".join(problems) or detail)


async def create_thread(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[CheckResult, str | None]:
    title = "POST /v1/threads from the site"
    try:
        response = await client.post("/v1/threads", headers=headers)
    except httpx.HTTPError as exc:
        return CheckResult("create_thread", title, "FAIL", f"request failed: {exc!r}"), None
    origin = headers["Origin"]
    if response.status_code != 201:
        return CheckResult(
            "create_thread", title, "FAIL", f"status {response.status_code}: {response.text[:200]}"
        ), None
    thread_id = response.json().get("thread_id")
    if response.headers.get("access-control-allow-origin") not in (origin, "*"):
        detail = "no Access-Control-Allow-Origin on the response: the browser would hide it from the widget"
        return CheckResult("create_thread", title, "FAIL", detail), thread_id
    return CheckResult("create_thread", title, "PASS", f"201, thread {thread_id}"), thread_id


def stream_header_results(trace: StreamTrace) -> list[CheckResult]:
    headers = trace.headers
    results = []
    content_type = headers.get("content-type", "")
    cache = headers.get("cache-control", "")
    accel = headers.get("x-accel-buffering")
    problems = []
    if not content_type.startswith("text/event-stream"):
        problems.append(f"Content-Type {content_type or 'missing'}")
    if not ({"no-cache", "no-store"} & {d.strip().lower() for d in cache.split(",")}):
        problems.append(f"Cache-Control {cache or 'missing'} (no-cache expected)")
    if accel is not None and accel.strip().lower() != "no":
        problems.append(f"X-Accel-Buffering: {accel}")
    detail = (
        f"{content_type}; Cache-Control {cache}; X-Accel-Buffering {accel or 'not passed on (nginx hides it; fine)'}"
    )
    results.append(
        CheckResult(
            "stream_headers",
            "stream headers (event-stream, no-cache)",
            "FAIL" if problems else "PASS",
            "; ".join(problems) or detail,
        )
    )
    encoding = headers.get("content-encoding", "").strip().lower()
    results.append(
        CheckResult(
            "compression",
            "stream is not compressed (no Content-Encoding)",
            "FAIL" if encoding and encoding != "identity" else "PASS",
            f"Content-Encoding: {encoding}" if encoding else f"none, although the request offered {BROWSER_ENCODINGS}",
        )
    )
    return results


async def is_demo(client: httpx.AsyncClient, origin: str) -> bool:
    """The ``python -m proxy demo`` tenant is called ``demo``; its provider is the simulator."""
    try:
        response = await client.get("/v1/widget-config", headers={"Origin": origin})
        return response.status_code == 200 and response.json().get("tenant") == "demo"
    except (httpx.HTTPError, ValueError):
        return False


async def run_checks(
    url: str,
    origin: str | None = None,
    *,
    message: str | None = None,
    paced: bool | None = None,
    idle: float = 0.0,
    timeout: float = 60.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Report:
    """Run every check against ``url``; ``paced`` None means: ask for a paced reply if it is the demo."""
    origin = site_origin(origin, url)
    report = Report(url=url, origin=origin)
    limits = httpx.Timeout(max(timeout, idle + 30), connect=10.0)
    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=limits, transport=transport) as client:
        report.results.append(await check_widget(client))
        report.results.append(await check_preflight(client, "cors_threads", "/v1/threads", origin))
        report.demo = await is_demo(client, origin) if paced is None else paced
        report.message = message or (PACED_MESSAGE if report.demo else PLAIN_MESSAGE)
        headers = {"Origin": origin, "X-Visitor-Id": f"doctor-{secrets.token_hex(8)}"}
        created, thread_id = await create_thread(client, headers)
        report.results.append(created)
        if thread_id is None:
            for key, title in (
                ("cors_messages", "CORS preflight for POST /v1/threads/{id}/messages"),
                ("unbuffered", "reply streams event by event (not buffered)"),
            ):
                report.results.append(CheckResult(key, title, "SKIP", "needs a thread"))
            return report
        messages = f"/v1/threads/{thread_id}/messages"
        report.results.append(
            await check_preflight(client, "cors_messages", messages, origin, "/v1/threads/{id}/messages")
        )
        try:
            await _check_stream(client, report, messages, headers, idle)
        finally:
            with contextlib.suppress(httpx.HTTPError):
                await client.delete(f"/v1/threads/{thread_id}", headers=headers)
    return report


async def _send(client: httpx.AsyncClient, path: str, headers: dict[str, str], text: str) -> StreamTrace:
    return await read_stream(
        client,
        "POST",
        path,
        json={"content": text},
        headers={**headers, "Accept": "text/event-stream", "Accept-Encoding": BROWSER_ENCODINGS},
    )


async def _check_stream(
    client: httpx.AsyncClient, report: Report, path: str, headers: dict[str, str], idle: float
) -> None:
    title = "reply streams event by event (not buffered)"
    try:
        trace = await _send(client, path, headers, report.message)
    except httpx.HTTPError as exc:
        report.results.append(CheckResult("unbuffered", title, "FAIL", f"request failed: {exc!r}"))
        return
    content_type = trace.headers.get("content-type", "")
    if trace.status != 200 or not content_type.startswith("text/event-stream"):
        detail = f"status {trace.status}, {content_type or 'no Content-Type'}: {trace.text[:200]}"
        report.results.append(CheckResult("unbuffered", title, "FAIL", detail))
        return
    report.results.extend(stream_header_results(trace))
    verdict = judge_spread(trace)
    report.results.append(CheckResult("unbuffered", title, verdict.status, verdict.detail))  # type: ignore[arg-type]
    hb_title = "heartbeats keep a quiet stream alive"
    if idle <= 0:
        seen = len(trace.comments)
        report.results.append(
            CheckResult("heartbeat", hb_title, "SKIP", f"{seen} comment(s) seen; pass --idle 20 (demo only) to test")
        )
    elif not report.demo:
        report.results.append(CheckResult("heartbeat", hb_title, "SKIP", "--idle needs the demo's simulator"))
    else:
        quiet = await _send(client, path, headers, f"[[pace:ttft={int(idle * 1000)},gap=50,tokens=2]] Hi.")
        hb = judge_heartbeat(quiet, idle)
        report.results.append(CheckResult("heartbeat", hb_title, hb.status, hb.detail))  # type: ignore[arg-type]


def as_dict(report: Report) -> dict[str, Any]:
    return {
        "url": report.url,
        "origin": report.origin,
        "demo": report.demo,
        "ok": report.ok,
        "checks": [{"key": r.key, "title": r.title, "status": r.status, "detail": r.detail} for r in report.results],
    }
