"""Signed webhook calls, delivered through the same outbox as mails.

The body is signed at send time, not when queued, so the timestamp in the signature is fresh on
every attempt and a receiver may reject old signatures (replays) without rejecting our retries.

Header: ``X-Proxy-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``.
``X-Proxy-Delivery`` carries the outbox id: the same id on every retry of one notification, so a
receiver can drop a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping
from typing import Any

import httpx

from proxy.mail.sender import DeliveryError

SIGNATURE_HEADER = "X-Proxy-Signature"
EVENT_HEADER = "X-Proxy-Event"
DELIVERY_HEADER = "X-Proxy-Delivery"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str, *, tolerance: float = 300.0, now: float | None = None) -> bool:
    """For receivers written in Python: check the signature and that it is recent."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def encode_body(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str).encode()


async def post_webhook(
    payload: Mapping[str, Any],
    *,
    delivery_id: int,
    timeout: float,
    client: httpx.AsyncClient | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """POST the payload's body to its URL; raise ``DeliveryError`` on failure.

    The payload names the environment variable holding the secret (never the secret itself, which
    must not sit in the database). 2xx is success; 408, 429 and 5xx are retried; any other status
    is the receiver's final answer.
    """
    env = os.environ if env is None else env
    url = str(payload.get("url") or "")
    if not url:
        raise DeliveryError("the webhook has no URL", permanent=True)
    body = encode_body(payload.get("body") or {})
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "assistant-proxy-webhook",
        EVENT_HEADER: str(payload.get("event") or ""),
        DELIVERY_HEADER: str(delivery_id),
    }
    secret_env = payload.get("secret_env")
    if secret_env:
        secret = env.get(str(secret_env))
        if not secret:
            raise DeliveryError(f"the webhook secret variable {secret_env} is not set", permanent=False)
        headers[SIGNATURE_HEADER] = sign(secret, body, int(time.time()))
    own_client = client is None
    http = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
    try:
        response = await http.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook unreachable: {type(exc).__name__}: {exc}", permanent=False) from exc
    finally:
        if own_client:
            await http.aclose()
    if 200 <= response.status_code < 300:
        return
    retryable = response.status_code in (408, 425, 429) or response.status_code >= 500
    snippet = response.text[:200].replace("\n", " ")
    raise DeliveryError(f"webhook answered {response.status_code}: {snippet}", permanent=not retryable)
