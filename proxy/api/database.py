"""When the database is away: requests wait briefly for a connection and answer 503, not 500.

The pool's own wait (30 s) suits background work that retries; a visitor's request should not
hang that long. Within a request (and a turn it starts) a wait for a connection ends after
``PROXY_DB_REQUEST_TIMEOUT`` seconds (set by :class:`proxy.api.middleware.FrontDoor`); that, a
lost connection or a database that refuses connections becomes ``503 database_unavailable`` with
``Retry-After``, as ``/readyz`` answers.
A reply already streaming reports the failure in its own ``error`` event and still ends with
``done`` (the turn's end is saved with retries of its own).
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from psycopg import OperationalError

from proxy.api.errors import error_response

logger = logging.getLogger(__name__)

RETRY_AFTER = 5  # seconds


def database_unavailable_handler(request: Request[Any, Any, Any], exc: OperationalError) -> Response[Any]:
    logger.warning("database unavailable", extra={"path": request.url.path, "error": repr(exc)})
    message = "The service is briefly unavailable; try again."
    return error_response(503, "database_unavailable", message, headers={"Retry-After": str(RETRY_AFTER)})
