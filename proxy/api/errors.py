"""One JSON error shape for every failure: ``{"error": {"code", "message", ...}}``.

Our errors (the :class:`~proxy.errors.ProxyError` tree) have one handler; Litestar's own (unknown
route, wrong method, a body that does not validate) keep their 4xx with a code named after the
status; anything else is a 500 ``internal`` whose detail stays in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from psycopg import DataError

from proxy.errors import ProxyError

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


class ApiError(ProxyError):
    """The API's answer to one request: status and code given at each raise, ``extra`` body fields.

    ``ApiError(404, "thread_not_found", "No such thread.")``; keywords other than ``headers``
    become fields of the body's ``error`` (``limit=200``).
    """

    public = True

    def __init__(
        self, status_code: int, code: str, message: str, *, headers: Mapping[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message, code=code, status=status_code, headers=headers, extra=extra)

    @classmethod
    def from_error(cls, error: ProxyError) -> ApiError:
        """The same answer as ``error`` (status, code, message, headers, body fields)."""
        return cls(error.status, error.code, error.message, headers=error.headers, **error.extra)

    @property
    def status_code(self) -> int:
        """``status`` by the name Litestar's ``HTTPException`` gives it."""
        return self.status

    @property
    def detail(self) -> str:
        """``message`` by the name Litestar's ``HTTPException`` gives it."""
        return self.message


def error_response(
    status: int,
    code: str,
    message: str,
    extra: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Response[Any]:
    """``{"error": {"code", "message", **extra}}``; ``extra`` that is not a mapping goes under ``details``."""
    error: dict[str, Any] = {"code": code, "message": message}
    if isinstance(extra, Mapping):
        error.update(extra)
    elif extra:
        error["details"] = extra
    return Response({"error": error}, status_code=status, media_type=MediaType.JSON, headers=headers)


def proxy_error_handler(request: Request[Any, Any, Any], exc: ProxyError) -> Response[Any]:
    if not exc.public:
        return internal_error_handler(request, exc)
    return error_response(exc.status, exc.code, exc.message, exc.extra, exc.headers)


def http_exception_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own errors: a code named after the status; a validation failure lists its problems."""
    status = exc.status_code
    code = "invalid_request" if isinstance(exc, ValidationException) else _CODES.get(status, "error")
    message = "The request body is too large." if status == 413 else exc.detail or "Request failed"
    extra = _named_missing_body(exc.extra) if isinstance(exc, ValidationException) else exc.extra
    return error_response(status, code, message, extra, exc.headers)


# what Litestar's signature model reports for a required body that is empty: the KeyError of its
# ``data`` parameter, as text
_MISSING_BODY = {"message": "'data'", "key": "data", "source": "body"}
_BODY_REQUIRED = {"message": "A JSON body is required.", "key": "body", "source": "body"}


def _named_missing_body(extra: Any) -> Any:
    """The problems of a validation failure, an empty required body said in words."""
    if isinstance(extra, list) and _MISSING_BODY in extra:
        return [_BODY_REQUIRED if problem == _MISSING_BODY else problem for problem in extra]
    return extra


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception("unhandled error", extra={"path": request.url.path}, exc_info=exc)
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, "internal", "The server failed to handle this request.")


def recursion_error_handler(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """The JSON decoder recurses per nesting level: a body of 30,000 ``[`` ends here, not in a 500."""
    if "deserializ" not in str(exc):
        return internal_error_handler(request, exc)
    return error_response(400, "invalid_json", "The JSON body is nested too deeply.")


def data_error_handler(request: Request[Any, Any, Any], exc: DataError) -> Response[Any]:
    """A value the database refuses (NUL in text, a number out of range) that no check caught first."""
    logger.warning(
        "the database refused a value of the request", extra={"path": request.url.path, "sqlstate": exc.sqlstate}
    )
    return error_response(400, "invalid_request", "The request contains a value that cannot be stored.")


exception_handlers = {
    ProxyError: proxy_error_handler,
    HTTPException: http_exception_handler,
    RecursionError: recursion_error_handler,
    DataError: data_error_handler,
    Exception: internal_error_handler,
}
