"""One JSON error shape for every failure: ``{"error": {"code", "message", ...}}``."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from psycopg import DataError

logger = logging.getLogger(__name__)

_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(HTTPException):
    """An HTTP error with a stable machine-readable ``code``."""

    def __init__(self, status_code: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(status_code=status_code, detail=message, extra=extra or None)
        self.code = code


def _body(code: str, message: str, extra: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if isinstance(extra, dict):
        error.update(extra)
    elif extra:
        error["details"] = extra
    return {"error": error}


def http_exception_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, ApiError):
        code = exc.code
    elif isinstance(exc, ValidationException):
        code = "invalid_request"
    else:
        code = _CODES.get(status, "error")
    message = exc.detail or "Request failed"
    if status == 413:
        message = "The request body is too large."
    return Response(_body(code, message, exc.extra), status_code=status, media_type=MediaType.JSON, headers=exc.headers)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception("unhandled error", extra={"path": request.url.path}, exc_info=exc)
    return Response(
        _body("internal", "The server failed to handle this request."),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=MediaType.JSON,
    )


def recursion_error_handler(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """The JSON decoder recurses per nesting level: a body of 30,000 ``[`` ends here, not in a 500."""
    if "deserializ" not in str(exc):
        return internal_error_handler(request, exc)
    return Response(
        _body("invalid_json", "The JSON body is nested too deeply."), status_code=400, media_type=MediaType.JSON
    )


def data_error_handler(request: Request[Any, Any, Any], exc: DataError) -> Response[Any]:
    """A value the database refuses (NUL in text, a number out of range) that no check caught first."""
    logger.warning(
        "the database refused a value of the request", extra={"path": request.url.path, "sqlstate": exc.sqlstate}
    )
    return Response(
        _body("invalid_request", "The request contains a value that cannot be stored."),
        status_code=400,
        media_type=MediaType.JSON,
    )


exception_handlers = {
    HTTPException: http_exception_handler,
    RecursionError: recursion_error_handler,
    DataError: data_error_handler,
    Exception: internal_error_handler,
}
