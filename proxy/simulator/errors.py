"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from litestar import MediaType, Response
from litestar.exceptions import HTTPException, ValidationException

if TYPE_CHECKING:
    from litestar import Request

__all__ = (
    "APIError",
    "api_error_handler",
    "http_exception_handler",
    "internal_error_handler",
    "invalid_request",
    "missing_parameter",
    "not_found",
)

logger = logging.getLogger(__name__)

_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
)


class APIError(Exception):
    """An error answer of the API; raised anywhere in a handler, rendered by :func:`api_error_handler`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def invalid_request(message: str, *, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def missing_parameter(name: str) -> APIError:
    return APIError(400, f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter")


def not_found(message: str, *, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(404, message, param=param, code=code)


def _render(request: Request[Any, Any, Any], error: APIError) -> Response[dict[str, Any]]:
    headers: dict[str, str] = {}
    if error.status == 429 or error.status >= 500:
        retry_after_ms = request.app.state.sim.config.retry_after_ms
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
    return Response(error.body(), status_code=error.status, headers=headers, media_type=MediaType.JSON)


def api_error_handler(request: Request[Any, Any, Any], exc: APIError) -> Response[dict[str, Any]]:
    return _render(request, exc)


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Litestar's own errors: unknown URL, wrong method, a body that is not a JSON object."""
    if exc.status_code in (400, 415) and not isinstance(exc, ValidationException):
        return _render(request, APIError(400, _BAD_JSON))  # a body that does not parse
    if isinstance(exc, ValidationException):
        problem = exc.extra[0] if isinstance(exc.extra, list) and exc.extra else {}
        if not isinstance(problem, dict) or problem.get("source") in (None, "body"):
            return _render(request, APIError(400, _BAD_JSON))
        key = problem.get("key")
        return _render(request, APIError(400, f"Invalid value for '{key}': {problem.get('message')}.", param=key))
    if exc.status_code in (404, 405):
        return _render(request, APIError(404, f"Invalid URL ({request.method} {request.url.path})"))
    return _render(request, APIError(exc.status_code, exc.detail))


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    logger.exception("simulator failed on %s %s", request.method, request.url.path, exc_info=exc)
    message = "The server had an error while processing your request. Sorry about that!"
    return _render(request, APIError(500, message, type="server_error"))
