"""Provider failures -> our ``EngineError``, and when a provider request is tried again.

Two paths reach a provider: the openai SDK (conversations, probes, the assistants engine) and the
streamed turns of the chat and responses engines (:mod:`proxy.engines.provider_http`), sent
directly over our HTTP/1.1 client (:mod:`proxy.engines.wire`, whose failures are ``OSError`` and
``TimeoutError``) or httpx2. Both end here, so a status, a refused connection or an error inside a
stream means the same ``EngineError`` whichever path met it; the retry policy of the direct path
is the SDK's (:func:`should_retry`, :func:`retry_delay`).
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import httpx2
import msgspec.json
import openai

from proxy.backoff import backoff_delay
from proxy.engines.base import EngineError
from proxy.errors import ProxyError

# the SDK's retry policy (openai._constants): 0.5 s doubling up to 8 s, cut by up to a quarter at
# random; a server's Retry-After is honoured up to two minutes, and a longer one is not retried
_RETRY_FIRST = 0.5
_RETRY_CAP = 8.0
_RETRY_JITTER = 0.25
_MAX_RETRY_AFTER = 120.0
_RETRIED_STATUSES = frozenset({408, 409, 429})
# what the transports raise when a connect or a read took too long
_TIMEOUTS = (TimeoutError, aiohttp.ServerTimeoutError, httpx2.TimeoutException)
# what the direct path's transports raise when the network or the peer failed them
TRANSPORT_ERRORS = (aiohttp.ClientError, httpx2.TransportError, OSError, TimeoutError)


class ProviderStatusError(ProxyError):
    """A provider answered a streamed request with an error status (the direct path's
    ``openai.APIStatusError``): ``status`` is the provider's, ``body`` the JSON's ``error`` object
    (or the whole body). Mapped to an ``EngineError`` before anything sees it."""

    code = "upstream_status"

    def __init__(self, status: int, body: object, message: str) -> None:
        super().__init__(message, status=status)
        self.body = body

    @classmethod
    def from_response(cls, status: int, raw: bytes) -> ProviderStatusError:
        """As the SDK builds its status errors: the ``error`` object's message, else the raw text."""
        text = raw.decode("utf-8", "replace")
        try:
            body: object = json_loads(raw) if raw else None
        except ValueError:
            body = text or None
        inner = body.get("error", body) if isinstance(body, Mapping) else body
        message = inner.get("message") if isinstance(inner, Mapping) else None
        if not isinstance(message, str) or not message:
            message = f"Error code: {status}" + (f" - {body}" if body else "")
        return cls(status, inner, message)


def json_loads(raw: bytes) -> Any:
    return msgspec.json.decode(raw)


def status_and_body(exc: BaseException | None) -> tuple[int, object] | None:
    """The status and error body of a provider's status error from either path, else None."""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        return exc.status_code, body.get("error", body) if isinstance(body, dict) else body
    if isinstance(exc, ProviderStatusError):
        return exc.status, exc.body
    return None


def _provider_message(exc: openai.APIStatusError | ProviderStatusError) -> str:
    found = status_and_body(exc)
    inner = found[1] if found else None
    if isinstance(inner, Mapping) and inner.get("message"):
        return str(inner["message"])
    return exc.message


def _provider_code(exc: openai.APIStatusError | ProviderStatusError) -> str | None:
    code = exc.code if isinstance(exc, openai.APIStatusError) else None  # ours: read from its body
    if code:
        return str(code)
    found = status_and_body(exc)
    inner = found[1] if found else None
    if isinstance(inner, Mapping):
        return inner.get("code") or inner.get("type")
    return None


# What a visitor reads when the provider failed in a way only the site's owner can fix. The
# provider's own words stay in the log: they may quote the site's key ("Incorrect API key
# provided: sk-proj-****...9876"), its account, model names or the request's content.
_NEUTRAL = {
    "upstream_auth": "The assistant is unavailable right now. Please try again later.",
    "upstream_not_found": "The assistant is unavailable right now. Please try again later.",
    "upstream_quota": "The assistant is unavailable right now. Please try again later.",
    "upstream_bad_request": "The assistant could not answer this message. Please try again.",
    "upstream_failed": "The assistant could not finish the reply. Please try again.",
}


def for_visitor(error: EngineError) -> EngineError:
    """The error as the visitor sees it: codes whose message may carry provider text get a neutral one."""
    neutral = _NEUTRAL.get(error.code)
    if neutral is None or error.message == neutral:
        return error
    return EngineError(error.code, neutral, retryable=error.retryable, status=error.status)


def _refused_connection(exc: BaseException) -> bool:
    """A connection refused or reset on the way: the transport may still call it a connect timeout."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def from_provider_exception(exc: BaseException) -> EngineError:
    """Map anything the SDK raises to an error the visitor and the operator can act on."""
    if isinstance(exc, EngineError):
        return exc
    if isinstance(exc, openai.APITimeoutError) and _refused_connection(exc):
        # the aiohttp transport reports a refused connection as a connect timeout
        return EngineError("upstream_unavailable", "The AI provider cannot be reached.", retryable=True, status=502)
    if isinstance(exc, openai.APITimeoutError):
        return EngineError("upstream_timeout", "The AI provider did not answer in time.", retryable=True, status=504)
    if isinstance(exc, openai.APIConnectionError):
        return EngineError("upstream_unavailable", "The AI provider cannot be reached.", retryable=True, status=502)
    if isinstance(exc, (openai.APIStatusError, ProviderStatusError)):
        return _from_status(exc)
    if isinstance(exc, openai.APIError):
        # an error payload inside an otherwise successful stream
        return failed_run(exc.code, exc.message)
    if isinstance(exc, (httpx2.RemoteProtocolError, httpx2.ReadError)):
        return _stream_cut()
    if isinstance(exc, _TIMEOUTS):
        return _timed_out()
    if isinstance(exc, (httpx2.HTTPError, aiohttp.ClientError, OSError)):
        return _unreachable()
    return EngineError("internal", "The assistant failed unexpectedly.", retryable=True, status=500)


def _unreachable() -> EngineError:
    return EngineError("upstream_unavailable", "The AI provider cannot be reached.", retryable=True, status=502)


def _timed_out() -> EngineError:
    return EngineError("upstream_timeout", "The AI provider did not answer in time.", retryable=True, status=504)


def _stream_cut() -> EngineError:
    return EngineError("upstream_stream_cut", "The AI provider's stream broke off.", retryable=True)


def _from_status(exc: openai.APIStatusError | ProviderStatusError) -> EngineError:
    message = _provider_message(exc)
    status = exc.status_code if isinstance(exc, openai.APIStatusError) else exc.status
    if status in (401, 403):
        return EngineError("upstream_auth", f"The AI provider refused this site's key: {message}", status=502)
    if status == 404:
        return EngineError("upstream_not_found", f"The AI provider does not know it: {message}", status=502)
    if status == 429:
        if _provider_code(exc) == "insufficient_quota":
            return EngineError("upstream_quota", f"The AI provider's quota is used up: {message}", status=503)
        return EngineError(
            "upstream_rate_limited", "The AI provider is rate limiting; try again shortly.", retryable=True, status=429
        )
    if status >= 500:
        return EngineError("upstream_unavailable", f"The AI provider failed ({status}).", retryable=True)
    if status == 400 and _provider_code(exc) == "conversation_locked":
        return EngineError(
            "upstream_bad_request",
            "Another reply is still running in this conversation; try again when it has finished.",
            retryable=True,
            status=409,
        )
    return EngineError("upstream_bad_request", f"The AI provider rejected the request: {message}")


# -- the direct path (proxy.engines.provider_http) ---------------------------------------------------


def request_failed(exc: BaseException) -> EngineError:
    """A streamed request that got no answer (refused, reset, timed out) before its status."""
    if isinstance(exc, _TIMEOUTS) and not _refused_connection(exc):
        return _timed_out()
    return _unreachable()


def read_failed(exc: BaseException) -> EngineError:
    """Reading an answered stream failed: a timeout is a silence too long, anything else a cut."""
    if isinstance(exc, _TIMEOUTS):
        return _timed_out()
    return _stream_cut()


def error_payload(error: object) -> EngineError:
    """A ``{"error": ...}`` payload inside a stream, as the SDK raised it (``openai.APIError``)."""
    message = error.get("message") if isinstance(error, Mapping) else None
    if not isinstance(message, str) or not message:
        message = "An error occurred during streaming"
    code = error.get("code") if isinstance(error, Mapping) else None
    return failed_run(code if isinstance(code, str) else None, message)


def malformed_event() -> EngineError:
    """A ``data:`` payload that is not JSON: the provider sent something else than its protocol."""
    return EngineError("upstream_failed", "The AI provider sent a malformed event.", retryable=True)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a provider asked us to wait (``retry-after-ms``, ``retry-after`` in seconds or as an
    HTTP date), as the SDK reads them; None when it did not say. ``headers`` has lower-case names
    or is case-insensitive."""
    for name, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            delay = float(value)
        except ValueError:
            continue
        if delay == math.inf and value.strip().lower() not in ("inf", "+inf", "infinity", "+infinity"):
            return _MAX_RETRY_AFTER + 1
        return delay / divisor
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return float(email.utils.mktime_tz(parsed) - time.time())
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """Whether an error status is worth another try, as the SDK decides: never past a Retry-After of
    two minutes, as ``x-should-retry`` says if sent, else on 408, 409, 429 and 5xx."""
    wait = retry_after(headers)
    if wait is not None and math.isfinite(wait) and wait > _MAX_RETRY_AFTER:
        return False
    told = headers.get("x-should-retry")
    if told == "true":
        return True
    if told == "false":
        return False
    return status in _RETRIED_STATUSES or status >= 500


def retry_delay(attempt: int, headers: Mapping[str, str] | None = None) -> float:
    """Seconds before retry ``attempt`` (0 for the first): the server's Retry-After when it gave a
    usable one, else the SDK's backoff."""
    wait = retry_after(headers) if headers is not None else None
    if wait is not None and math.isfinite(wait) and 0 < wait <= _MAX_RETRY_AFTER:
        return wait
    return backoff_delay(attempt, first=_RETRY_FIRST, cap=_RETRY_CAP, jitter=_RETRY_JITTER)


def from_stream_exception(exc: BaseException) -> EngineError:
    """Like :func:`from_provider_exception`, for failures while a stream was being read.

    The SDK wraps a broken body (peer reset, truncated chunk) in ``APIConnectionError``; once the
    provider has answered, that means the stream was cut, not that the provider is unreachable.
    """
    if isinstance(exc, openai.APIConnectionError) and not isinstance(exc, openai.APITimeoutError):
        return EngineError("upstream_stream_cut", "The AI provider's stream broke off.", retryable=True)
    return from_provider_exception(exc)


def failed_run(code: str | None, message: str | None) -> EngineError:
    """A run/response the provider itself reports as failed (rate limits included)."""
    text = message or "The AI provider could not complete the reply."
    if code == "rate_limit_exceeded":
        return EngineError("upstream_rate_limited", text, retryable=True, status=429)
    if code == "insufficient_quota":
        return EngineError("upstream_quota", text, status=503)
    return EngineError("upstream_failed", text, retryable=code in (None, "server_error"))


def stream_ended_early() -> EngineError:
    """The stream closed cleanly but before the reply's terminal chunk or event."""
    return EngineError("upstream_stream_cut", "The AI provider's stream ended early.", retryable=True)


def tool_rounds_exceeded(max_rounds: int) -> EngineError:
    """The model still asked for tools after the last round that allows them."""
    return EngineError("tool_rounds_exceeded", f"The assistant kept calling tools after {max_rounds} rounds.")
