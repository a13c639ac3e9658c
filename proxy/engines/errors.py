"""Provider failures (openai SDK exceptions, httpx2 errors) -> our ``EngineError``."""

from __future__ import annotations

import httpx2
import openai

from proxy.engines.base import EngineError


def _provider_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return exc.message


def _provider_code(exc: openai.APIStatusError) -> str | None:
    code = getattr(exc, "code", None)
    if code:
        return str(code)
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
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
    if isinstance(exc, openai.APIStatusError):
        message = _provider_message(exc)
        status = exc.status_code
        if status in (401, 403):
            return EngineError("upstream_auth", f"The AI provider refused this site's key: {message}", status=502)
        if status == 404:
            return EngineError("upstream_not_found", f"The AI provider does not know it: {message}", status=502)
        if status == 429:
            if _provider_code(exc) == "insufficient_quota":
                return EngineError("upstream_quota", f"The AI provider's quota is used up: {message}", status=503)
            return EngineError(
                "upstream_rate_limited",
                "The AI provider is rate limiting; try again shortly.",
                retryable=True,
                status=429,
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
    if isinstance(exc, openai.APIError):
        # an error payload inside an otherwise successful stream
        return failed_run(exc.code, exc.message)
    if isinstance(exc, (httpx2.RemoteProtocolError, httpx2.ReadError)):
        return EngineError("upstream_stream_cut", "The AI provider's stream broke off.", retryable=True)
    if isinstance(exc, httpx2.TimeoutException):
        return EngineError("upstream_timeout", "The AI provider did not answer in time.", retryable=True, status=504)
    if isinstance(exc, httpx2.HTTPError):
        return EngineError("upstream_unavailable", "The AI provider cannot be reached.", retryable=True)
    return EngineError("internal", "The assistant failed unexpectedly.", retryable=True, status=500)


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
