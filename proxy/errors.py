"""The root of every error of ours, and the whole tree in one place.

:class:`ProxyError` carries what an HTTP answer needs: a stable ``code``, the ``status``, the
``message``, ``headers`` (``Retry-After``) and ``extra`` fields of the JSON body. The API has one
handler for the root (:mod:`proxy.api.errors`): a *public* error answers with its status, its
headers and ``{"error": {"code", "message", **extra}}``; any other one that reaches the API is a
failure of ours, logged and answered with the generic 500 ``internal``. A class names its code and
status once, as class attributes; a raise may override them.

The tree, each class with its module, code and (for public ones) status:

* ProxyError (proxy.errors): ``internal``, 500
  x ApiError (proxy.api.errors): public; code and status given at each raise (README, "The v1 API")
  x RateLimited (proxy.limits.limiter): public ``rate_limited``, 429 with ``Retry-After``; extra
    ``scope``, ``retry_after``
  x TurnRefused (proxy.turns.admission): public ``overloaded`` (extra ``reason``, ``retry_after``) or
    ``shutting_down``, 503 with ``Retry-After``
  x IdentityError (proxy.identity): public ``invalid_identity_token``, 401
  x InvalidCursor (proxy.store.conversations): public ``invalid_cursor``, 400; also a ``ValueError``
  x ThreadMissing (proxy.turns.turn_request): ``thread_not_found``; the API answers 404 (or tries the
    visitor's other device first)
  x ThreadBusy (proxy.turns.turn_request): ``thread_busy``; the API answers 409
  x ThreadHeld (proxy.turns.turn_request): ``thread_held``; the message was kept for the person holding
    the thread, and the API answers that a person holds it (``human.holding``)
  x EngineError (proxy.engines.base): ends a turn, and reaches the visitor as the turn's ``error``
    event (``as_dict``, after ``for_visitor``). Codes (README, "The SSE stream"): ``upstream_auth``,
    ``upstream_not_found``, ``upstream_rate_limited``, ``upstream_quota``, ``upstream_bad_request``,
    ``upstream_unavailable``, ``upstream_timeout``, ``upstream_stream_cut``, ``upstream_failed``,
    ``turn_timeout``, ``tool_rounds_exceeded``, ``cancelled``, ``shutting_down``, ``interrupted``,
    ``internal``
  x ProviderStatusError (proxy.engines.errors): ``upstream_status``; a provider's error status on a
    streamed request, its ``status`` the provider's; mapped to an ``EngineError`` at once
  x ToolError (proxy.tools.errors): ``tool_failed``; the message is for the model, which relays it
    + FloodLimited (proxy.leads.caps): ``flood_limited``
  x ConfigError (proxy.tenants): ``invalid_config``
  x DeliveryError (proxy.mail.sender): ``delivery_failed``
  x EmbeddedPostgresError (proxy.store.pg_server): ``postgres_failed``; also a ``RuntimeError``
  x StripeError (proxy.shop.stripe_client): ``stripe_failed``
    + StripeAuthError (proxy.shop.stripe_client): ``stripe_auth``
  x SyncError (proxy.shop.stripe_sync): ``sync_unavailable``
  x ShopDataError (proxy.shop.source): ``shop_data_unavailable``
  x InsightError (proxy.shop.insights): ``invalid_insight_query``; also a ``ValueError``
  x EmbeddingError (proxy.shop.embedders): ``embedding_failed``
  x CommandError (proxy.shop.cli): ``invalid_command``

Not in the tree: the simulator's errors (:mod:`proxy.simulator`), which stand in for OpenAI's
server and speak its error shape and codes, and ``BaseException`` signals such as
:class:`proxy.signals.Terminated`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = ("ProxyError",)


class ProxyError(Exception):
    """Base class of every error of ours (see the module's docstring for the tree)."""

    code: str = "internal"  # stable and machine-readable: clients, logs and metrics key on it
    status: int = 500  # the HTTP status of an answer carrying this error
    # The message is written for the client, so the API answers with the error as it is;
    # otherwise the error reaching the API is a bug, answered with the generic 500.
    public: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers: Mapping[str, str] = dict(headers or {})
        self.extra: Mapping[str, Any] = dict(extra or {})  # more fields of the JSON body's ``error``
