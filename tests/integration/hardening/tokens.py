"""Identity tokens written by hand: claims as raw JSON text, so a test can sign what a library
would refuse to produce (``"exp": 1e999``, ``NaN``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_raw(claims_json: str, secret: str) -> str:
    """An HS256 JWT whose payload is exactly ``claims_json``."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(claims_json.encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def token(
    secret: str, *, sub: str, tenant: str = "shop", iat: float | None = None, ttl: int = 600, **extra: Any
) -> str:
    """A valid token unless told otherwise (``iat`` in the past makes an expired one)."""
    issued = int(time.time() if iat is None else iat)
    claims = {"sub": sub, "aud": tenant, "iat": issued, "exp": issued + ttl, **extra}
    return sign_raw(json.dumps(claims), secret)
