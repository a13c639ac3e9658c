"""A table of malformed requests over every public route and the old routes: each gets an answer
below 500, error answers are our JSON shape, and neither an answer nor the log has a traceback."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest

from proxy.limits.settings import LimitSettings
from proxy.simulator import ServerThread, SimulatorServer
from tests.integration.hardening.conftest import IDENTITY_SECRET, SHOP_KEY, serve
from tests.integration.hardening.tokens import sign_raw, token

ORIGIN = "https://shop.test"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # {thread} and {run} are filled in
    json_body: bool = False


ROUTES = [
    Route("POST", "/v1/threads", json_body=True),
    Route("POST", "/v1/threads/{thread}/messages", json_body=True),
    Route("GET", "/v1/threads/{thread}/messages"),
    Route("POST", "/v1/threads/{thread}/runs/{run}/cancel"),
    Route("GET", "/v1/threads/{thread}/runs/{run}/events"),
    Route("DELETE", "/v1/threads/{thread}"),
    Route("GET", "/v1/widget-config"),
    Route("GET", "/widget.js"),
    Route("GET", "/demo"),
    Route("GET", "/v1/admin/leads"),
    Route("GET", "/v1/admin/handoffs"),
    Route("GET", "/v1/admin/leads.csv"),
    Route("GET", "/v1/admin/outbox"),
    Route("POST", "/v1/admin/outbox/{outbox}/retry"),
    Route("GET", "/metrics"),
    Route("GET", "/healthz"),
    Route("GET", "/schema/openapi.json"),
    Route("GET", "/demo/avatar.svg"),
    Route("OPTIONS", "/v1/threads/{thread}/messages"),
    Route("GET", "/readyz"),
    Route("GET", "/open-ai/create-thread"),
    Route("POST", "/open-ai/process-message", json_body=True),
]

BAD_IDS = [
    "%00'",
    "'%20or%201=1--",
    "%ff%fe",
    "..%2F..%2Fetc",
    "x" * 5000,
    "%F0%9F%92%A9",
    "thr_%0d%0aSet-Cookie:%20a=b",
    "-1",
    "99999999999999999999999999",
]

BAD_BODIES: list[bytes] = [
    b"",
    b"null",
    b"[]",
    b'"text"',
    b"42",
    b"{",
    b'{"content": }',
    b"[" * 30_000 + b"]" * 30_000,
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    b'{"content": "\\ud800"}',
    b'{"content": "a\\u0000b", "page_url": "\\u0000"}',
    b'{"content": "\xff\xfe invalid utf-8"}',
    b'{"content": 1e999}',
    b'{"content": NaN}',
    b'{"content": ["list"]}',
    b'{"content": {"nested": true}}',
    b'{"content": "hi", "unexpected": 1}',
    b'{"content": "hi", "page_url": 7}',
    b'{"identity_token": 12}',
    b'{"identity_token": "a.b.c"}',
    b'{"identity_token": "\\u0000.\\u0000.\\u0000"}',
    b'{"threadId": "", "message": "hi"}',
    b'{"threadId": "\\u0000", "message": "hi"}',
    b'{"threadId": ["x"], "message": {"y": 1}}',
    b'{"threadId": "thr_x", "message": "' + b"x" * 70_000 + b'"}',
]


def bad_tokens() -> list[str]:
    now = 1_900_000_000
    return [
        "not-a-token",
        "a.b.c",
        "e30.e30.",  # {} . {} . no signature
        sign_raw('{"sub": "u", "aud": "shop", "exp": "soon"}', IDENTITY_SECRET),
        sign_raw('{"sub": "u", "aud": "shop", "exp": 1e999}', IDENTITY_SECRET),
        sign_raw('{"sub": "u", "aud": "shop", "exp": NaN}', IDENTITY_SECRET),
        sign_raw(f'{{"sub": "u", "aud": "shop", "iat": NaN, "exp": {now}}}', IDENTITY_SECRET),
        sign_raw(f'{{"sub": ["u"], "aud": "shop", "exp": {now}}}', IDENTITY_SECRET),
        sign_raw(f'{{"sub": "u\\u0000", "aud": "shop", "exp": {now}}}', IDENTITY_SECRET),
        sign_raw(f'{{"sub": "u", "aud": {{"x": 1}}, "exp": {now}}}', IDENTITY_SECRET),
        sign_raw("[1, 2, 3]", IDENTITY_SECRET),
        sign_raw("{" * 5000, IDENTITY_SECRET),
        token("wrong-secret-wrong-secret-wrong-secret", sub="u"),
        token(IDENTITY_SECRET, sub="u", iat=0),
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1IiwiYXVkIjoic2hvcCIsImV4cCI6MTkwMDAwMDAwMH0.",
    ]


BAD_HEADERS: list[dict[str, str]] = [
    {"Origin": "null"},
    {"Origin": "http://"},
    {"Origin": "://::"},
    {"Origin": "https://" + "a" * 3000 + ".test"},
    {"Origin": "https://[::1"},
    {"Origin": "https://shop.test:99999"},
    {"Referer": "%%%"},
    {"Referer": "https://shop.test/%ff"},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer " + "k" * 5000},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "bearer  " + SHOP_KEY + " extra"},
    {"Origin": ORIGIN, "X-Visitor-Id": "<script>"},
    {"Origin": ORIGIN, "X-Visitor-Id": "x" * 500},
    {"Origin": ORIGIN, "Last-Event-ID": "run_x:-1"},
    {"Origin": ORIGIN, "Last-Event-ID": "garbage"},
    {"Origin": ORIGIN, "Last-Event-ID": "run_x:99999999999999999999999"},
    {"Origin": ORIGIN, "Content-Type": "text/plain"},
    {"Origin": ORIGIN, "Content-Type": "application/json; charset=utf-32"},
    {"Origin": ORIGIN, "Content-Type": "multipart/form-data; boundary=x"},
    {"Origin": ORIGIN, "Accept-Encoding": "gzip;q=NaN, br;q=-1"},
    {"Origin": ORIGIN, "If-None-Match": '"' + "x" * 3000},
    {"Origin": ORIGIN, "X-Request-ID": "x" * 3000},
    {"Origin": ORIGIN, "X-Forwarded-For": "not-an-ip, ::::, 999.1.1.1"},
    {"Origin": ORIGIN, "Access-Control-Request-Method": "PO ST;;" * 10, "Access-Control-Request-Headers": "x" * 3000},
    {"Origin": "https://evil.test", "Access-Control-Request-Method": "POST"},
    *({"Origin": ORIGIN, "X-Identity-Token": bad} for bad in bad_tokens()),
]

BAD_QUERIES = [
    "since=0001-01-01&until=9999-12-31",
    "since=9999-12-31T23:59:59-23:59",
    "since=2025-13-45",
    "until=%00",
    "limit=-1",
    "limit=99999999999999999999999",
    "limit=abc",
    "state=%00",
    "last_event_id=run_x:1e999",
    "visitor_id=%00%00%00%00%00%00%00%00",
    "lang=" + "x" * 3000,
]


@dataclass
class Seen:
    answers: list[tuple[str, str, int, str]] = field(default_factory=list)

    def check(self, description: str, response: httpx.Response) -> None:
        self.answers.append((response.request.method, description, response.status_code, response.text[:300]))


@pytest.fixture(scope="module")
def fuzz_service(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory, simulator: SimulatorServer
) -> Iterator[ServerThread]:
    # no failed-authentication throttle: the wrong keys in the table would turn every later keyed
    # request (the admin API's cases) into a 429 before it reached the code under test
    no_throttle = LimitSettings(_env_file=None, auth_failures_per_ip=0)  # type: ignore[call-arg]
    with serve(
        pg_url, tmp_path_factory.mktemp("fuzz"), simulator, limit_settings=no_throttle, max_body_bytes=64 * 1024
    ) as server:
        yield server


def fill(path: str, value: str) -> str:
    return path.replace("{thread}", value).replace("{run}", value).replace("{outbox}", value)


async def send(client: httpx.AsyncClient, route: Route, path: str, **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", None) or {"Origin": ORIGIN}
    if route.path.startswith("/v1/admin") and "Authorization" not in headers:
        headers = {**headers, "Authorization": f"Bearer {SHOP_KEY}"}
    return await client.request(route.method, path, headers=headers, **kwargs)


async def test_malformed_requests_never_get_a_5xx(fuzz_service: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    seen = Seen()
    async with httpx.AsyncClient(base_url=fuzz_service.url, timeout=30) as client:
        thread = (await client.post("/v1/threads", headers={"Origin": ORIGIN})).json()["thread_id"]
        valid = {"{thread}": thread, "{run}": "run_unknown0000", "{outbox}": "1"}

        def real(path: str) -> str:
            for key, value in valid.items():
                path = path.replace(key, value)
            return path

        cases: list[tuple[str, Route, str, dict[str, Any]]] = []
        for route in ROUTES:
            # malformed ids in every path parameter
            if "{" in route.path:
                for bad in BAD_IDS:
                    path = fill(route.path, bad)
                    body = b'{"content": "hi"}' if route.json_body else None
                    cases.append((path, route, path, {"content": body}))
            # malformed bodies
            if route.json_body or route.method == "POST":
                for body in BAD_BODIES:
                    headers = {"Origin": ORIGIN, "Content-Type": "application/json"}
                    cases.append(
                        (
                            f"{route.path} body {body[:40]!r}",
                            route,
                            real(route.path),
                            {"content": body, "headers": headers},
                        )
                    )
            # malformed headers and identity tokens
            for headers in BAD_HEADERS:
                body = b'{"threadId": "' + thread.encode() + b'", "message": ""}' if route.json_body else None
                description = f"{route.path} headers {str(headers)[:60]}"
                cases.append((description, route, real(route.path), {"content": body, "headers": dict(headers)}))
            # malformed query strings
            for query in BAD_QUERIES:
                cases.append((f"{route.path}?{query[:40]}", route, f"{real(route.path)}?{query}", {}))
        # methods nobody routes
        for method, path in itertools.product(["PUT", "PATCH", "TRACE"], ["/v1/threads", "/open-ai/create-thread"]):
            cases.append((f"{method} {path}", Route(method, path), path, {}))

        gate = anyio.Semaphore(16)

        async def one(description: str, route: Route, path: str, kwargs: dict[str, Any]) -> None:
            async with gate:
                seen.check(description, await send(client, route, path, **kwargs))

        async with anyio.create_task_group() as group:
            for case in cases:
                group.start_soon(one, *case)

    server_errors = [answer for answer in seen.answers if answer[2] >= 500]
    assert not server_errors, server_errors[:10]
    assert not [answer for answer in seen.answers if "traceback" in answer[3].lower()]
    # refused CORS preflights are answered by Litestar's CORS middleware in plain text: only the
    # browser reads them, and it never shows their body to the page
    not_json = [
        a
        for a in seen.answers
        if a[2] >= 400 and not a[3].startswith('{"error":{"code":') and not (a[0] == "OPTIONS" and "CORS" in a[3])
    ]
    assert not not_json, not_json[:10]
    # the start-up check of the "down" tenant (an unreachable provider, on purpose) logs its error
    # from the background whenever the connection attempts give up: not something a request caused
    logged = [
        r for r in caplog.records if (r.levelno >= logging.ERROR or r.exc_info) and r.name != "proxy.engines.checks"
    ]
    assert not logged, [(r.getMessage(), r.exc_info and r.exc_info[1]) for r in logged[:10]]
    assert len(seen.answers) > 900
