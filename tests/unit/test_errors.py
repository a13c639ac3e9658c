"""The error tree: every exception class of ours derives from ``ProxyError`` and is documented, with
its code, in ``proxy/errors.py``; the API answers each with its status, headers and JSON body."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, get_args

import pytest
from litestar import Litestar, get, post
from litestar.params import FromQuery, JSONBody
from litestar.testing import TestClient

import proxy
from proxy import errors
from proxy.api.errors import ApiError, exception_handlers
from proxy.engines.base import EngineError, ErrorCode
from proxy.errors import ProxyError
from proxy.limits.limiter import RateLimited, rate_limited_error
from proxy.tenants import ConfigError
from proxy.turns.admission import TurnRefused

# The simulator stands in for OpenAI's server: its errors speak OpenAI's shape, not ours.
NOT_OURS = ("proxy.simulator",)
CODES_PER_RAISE = {ApiError}  # the API's codes: one per raise, listed in the README


def our_exception_classes() -> set[type[Exception]]:
    found: set[type[Exception]] = set()
    for module in pkgutil.walk_packages(proxy.__path__, "proxy."):
        if module.name.startswith(NOT_OURS):
            continue
        for value in vars(importlib.import_module(module.name)).values():
            if (
                inspect.isclass(value)
                and issubclass(value, Exception)
                and value.__module__.startswith("proxy.")
                and not value.__module__.startswith(NOT_OURS)
            ):
                found.add(value)
    return found


@dataclass
class Entry:
    name: str
    module: str
    depth: int
    text: str
    parent: str | None


def tree_entries() -> Iterator[Entry]:
    """The bullets of the tree in ``proxy.errors``' docstring: ``x Name (module): text``, nested by indent."""
    doc = errors.__doc__ or ""
    bullet = re.compile(r"^( *)[*x+] (\w+) \(([\w.]+)\): (.*)$")
    stack: list[str] = []
    current: Entry | None = None
    for line in doc.splitlines():
        match = bullet.match(line)
        if match:
            if current is not None:
                yield current
            indent, name, module, text = match.groups()
            depth = len(indent) // 2
            del stack[depth:]
            current = Entry(name, module, depth, text, stack[-1] if stack else None)
            stack.append(name)
        elif current is not None and line.startswith("  ") and line.strip():
            current.text += " " + line.strip()  # a continuation line of the entry
        elif current is not None:
            yield current
            current = None
    if current is not None:
        yield current


def test_every_exception_class_derives_from_the_root() -> None:
    classes = our_exception_classes()
    assert len(classes) > 15  # the walk found the package's modules
    outside = sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in classes if not issubclass(cls, ProxyError))
    assert outside == []


def test_the_tree_documents_every_class_with_its_module_parent_and_code() -> None:
    classes = {cls.__name__: cls for cls in our_exception_classes()}
    entries = {entry.name: entry for entry in tree_entries()}
    assert sorted(entries) == sorted(classes)  # each class once, and no entry for a class that is gone
    for name, entry in entries.items():
        cls = classes[name]
        assert cls.__module__ == entry.module, name
        if entry.parent is None:
            assert cls is ProxyError
        else:
            assert classes[entry.parent] in cls.__bases__, f"{name} is under {entry.parent} in the tree"
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", cls.code), name
        if cls not in CODES_PER_RAISE:
            assert f"``{cls.code}``" in entry.text, f"{name}'s code {cls.code!r} is not documented"


def test_the_tree_lists_every_engine_error_code() -> None:
    entry = next(entry for entry in tree_entries() if entry.name == "EngineError")
    missing = [code for code in get_args(ErrorCode) if f"``{code}``" not in entry.text]
    assert missing == []


def test_errors_carry_code_status_and_headers_from_the_constructor() -> None:
    limited = RateLimited("visitor", 12.2)
    assert (limited.code, limited.status, dict(limited.headers)) == ("rate_limited", 429, {"Retry-After": "13"})
    assert limited.extra == {"scope": "visitor", "retry_after": 13}
    refused = TurnRefused("shutting_down", retry_after=4)
    assert (refused.code, refused.status, dict(refused.headers)) == ("shutting_down", 503, {"Retry-After": "4"})
    assert TurnRefused("loop_lag").code == "overloaded"
    failed = EngineError("upstream_timeout", "late", status=504)
    assert (failed.code, failed.status, failed.message) == ("upstream_timeout", 504, "late")
    assert failed.as_dict() == {"code": "upstream_timeout", "message": "late", "retryable": False}
    answer = rate_limited_error(limited)
    assert isinstance(answer, ApiError) and dict(answer.headers) == {"Retry-After": "13"}


# -- the API's answers -----------------------------------------------------------------------------


@get("/api-error")
async def api_error() -> None:
    raise ApiError(409, "thread_busy", "Busy.", headers={"Retry-After": "3"}, holder="Ada")


@get("/too-long")
async def too_long() -> None:
    raise ApiError(413, "message_too_long", "The message is longer than 200 characters.", limit=200)


@get("/rate-limited")
async def rate_limited() -> None:
    raise RateLimited("ip", 2.5)


@get("/refused")
async def refused() -> None:
    raise TurnRefused("max_active_turns")


@get("/config")
async def config() -> None:
    raise ConfigError("tenant 'acme': api_key_env names an unset variable SECRET_NAME")


@get("/engine")
async def engine() -> None:
    raise EngineError("upstream_auth", "Incorrect API key provided: sk-proj-1234")


@get("/page")
async def page(limit: FromQuery[int]) -> int:
    return limit


@post("/body")
async def body(data: JSONBody[dict[str, int]]) -> dict[str, int]:
    return data


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient[Litestar]]:
    app = Litestar(
        route_handlers=[api_error, too_long, rate_limited, refused, config, engine, page, body],
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
        request_max_body_size=64,
        logging_config=None,
    )
    with TestClient(app) as test_client:
        yield test_client


def error_of(response: Any) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    assert set(payload) == {"error"}
    error: dict[str, Any] = payload["error"]
    return error


def test_an_api_error_answers_with_its_status_headers_and_fields(client: TestClient[Litestar]) -> None:
    response = client.get("/api-error")
    assert response.status_code == 409 and response.headers["retry-after"] == "3"
    assert error_of(response) == {"code": "thread_busy", "message": "Busy.", "holder": "Ada"}
    too_long = client.get("/too-long")
    assert too_long.status_code == 413
    assert error_of(too_long) == {
        "code": "message_too_long",
        "message": "The message is longer than 200 characters.",
        "limit": 200,
    }


def test_public_errors_answer_as_they_are(client: TestClient[Litestar]) -> None:
    limited = client.get("/rate-limited")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
    assert error_of(limited) == {
        "code": "rate_limited",
        "message": "Too many messages from your network. Please wait a moment.",
        "scope": "ip",
        "retry_after": 3,
    }
    refused = client.get("/refused")
    assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
    assert error_of(refused)["code"] == "overloaded"


@pytest.mark.parametrize("path", ["/config", "/engine"])
def test_other_errors_of_ours_are_a_500_that_tells_nothing(client: TestClient[Litestar], path: str) -> None:
    response = client.get(path)
    assert response.status_code == 500 and "retry-after" not in response.headers
    assert error_of(response) == {"code": "internal", "message": "The server failed to handle this request."}


def test_litestar_errors_keep_their_4xx(client: TestClient[Litestar]) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    wrong_method = client.delete("/api-error")
    assert wrong_method.status_code == 405 and error_of(wrong_method)["code"] == "method_not_allowed"
    bad_query = client.get("/page", params={"limit": "seven"})
    assert bad_query.status_code == 400 and error_of(bad_query)["code"] == "invalid_request"
    bad_body = client.post("/body", json={"a": "not a number"})
    assert bad_body.status_code == 400 and error_of(bad_body)["code"] == "invalid_request"
    too_large = client.post("/body", content=b"{" + b" " * 100 + b"}")
    assert too_large.status_code == 413
    assert error_of(too_large) == {"code": "payload_too_large", "message": "The request body is too large."}
