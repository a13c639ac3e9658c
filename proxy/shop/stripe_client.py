"""A small read-only Stripe API client: cursor pagination, backoff on 429 / ``Stripe-Should-Retry``,
and errors that say what to do about a bad or under-privileged key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx

from proxy.backoff import backoff_delay
from proxy.errors import ProxyError

RETRY_STATUSES = {409, 429, 500, 502, 503, 504}
MAX_RETRIES = 6
BACKOFF_FIRST = 0.5  # seconds before the first retry; doubles with each further one
BACKOFF_CAP = 30.0  # also caps a Retry-After
READ_PERMISSIONS = "Customers, Products, Prices, Invoices and Events: Read"


class StripeError(ProxyError):
    """Stripe answered with an error we cannot retry; the message is Stripe's, with context.

    ``stripe_status`` is the status of Stripe's answer (None: there was no answer).
    """

    code = "stripe_failed"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.stripe_status = status


class StripeAuthError(StripeError):
    """The key is wrong (401) or lacks a read permission (403)."""

    code = "stripe_auth"


def _redact(key: str) -> str:
    return f"{key[:8]}...{key[-4:]}" if len(key) > 16 else "(short key)"


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return response.text[:200]
    return str(error.get("message") or error.get("code") or error.get("type") or response.reason_phrase)


class StripeClient:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://api.stripe.com",
        api_version: str | None = None,
        max_retries: int = MAX_RETRIES,
        backoff_base: float = BACKOFF_FIRST,
        backoff_max: float = BACKOFF_CAP,
        timeout: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}", "User-Agent": "assistant-proxy-shop-sync"}
        if api_version:
            headers["Stripe-Version"] = api_version
        self._key = api_key
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self.max_retries, self.backoff_base, self.backoff_max = max_retries, backoff_base, backoff_max
        self._sleep = sleep
        self.retries = 0
        self.requests = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> StripeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None and (after := response.headers.get("Retry-After")):
            try:
                return min(float(after), self.backoff_max)
            except ValueError:
                pass
        return backoff_delay(attempt, first=self.backoff_base, cap=self.backoff_max)

    def _should_retry(self, response: httpx.Response) -> bool:
        flag = response.headers.get("Stripe-Should-Retry")
        if flag is not None:
            return str(flag).lower() == "true"
        return response.status_code in RETRY_STATUSES

    async def get(self, path: str, params: dict[str, Any] | list[tuple[str, Any]] | None = None) -> dict[str, Any]:
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                self.requests += 1
                response = await self._http.get(path, params=params)
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    raise StripeError(
                        f"cannot reach Stripe at {self._http.base_url} ({exc.__class__.__name__}: {exc})"
                    ) from exc
            else:
                if response.status_code < 300:
                    return response.json()  # type: ignore[no-any-return]
                if not self._should_retry(response) or attempt >= self.max_retries:
                    self._raise(path, response)
            self.retries += 1
            await self._sleep(self._delay(attempt, response))
            attempt += 1

    def _raise(self, path: str, response: httpx.Response) -> None:
        message = _message(response)
        if response.status_code == 401:
            raise StripeAuthError(
                f"Stripe rejected the API key {_redact(self._key)} (401: {message}). Check the environment variable "
                f"named by shop.stripe_key_env; use a restricted key with {READ_PERMISSIONS}.",
                401,
            )
        if response.status_code == 403:
            raise StripeAuthError(
                f"The Stripe key {_redact(self._key)} may not read {path} (403: {message}). "
                f"Give the restricted key {READ_PERMISSIONS}.",
                403,
            )
        raise StripeError(f"Stripe answered {response.status_code} to GET {path}: {message}", response.status_code)

    async def pages(
        self, path: str, params: dict[str, Any] | None = None, *, page_size: int = 100
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page of a list endpoint, newest first, following ``starting_after``."""
        query: dict[str, Any] = {**(params or {}), "limit": page_size}
        while True:
            page = await self.get(path, _flatten(query))
            data = page.get("data") or []
            if data:
                yield data
            if not page.get("has_more") or not data:
                return
            query["starting_after"] = data[-1]["id"]


def _flatten(params: dict[str, Any]) -> list[tuple[str, Any]]:
    """``{"types[]": ["a", "b"]}`` -> repeated keys, as Stripe's form encoding expects."""
    out: list[tuple[str, Any]] = []
    for key, value in params.items():
        if isinstance(value, list | tuple):
            out += [(key, v) for v in value]
        elif value is not None:
            out.append((key, value))
    return out
