"""Visitor identity tokens: the host site vouches for a signed-in user with a short-lived HS256
JWT signed with the tenant's identity secret; the widget passes it when it creates a thread.

Claims: ``sub`` (the site's user id, required), ``email`` (optional), ``aud`` or ``tenant`` (the
tenant's name, required), ``exp`` (required; at most :data:`MAX_LIFETIME` ahead), ``iat``
(optional), ``role: "staff"`` for the shop's own staff. Anything else is refused with a message
fit for a 401 answer.
"""

from __future__ import annotations

import math
import time
from typing import Any

import jwt

from proxy.errors import ProxyError
from proxy.visitors import Visitor

MAX_LIFETIME = 24 * 3600  # seconds: identity tokens are minted per page view, not per session
LEEWAY = 30  # seconds of clock skew tolerated between the host site and us
DEFAULT_TTL = 3600  # seconds a token minted by issue_identity_token lasts unless told otherwise


class IdentityError(ProxyError):
    """The token cannot be trusted; the message says why (never echoing the token)."""

    code = "invalid_identity_token"
    status = 401
    public = True


def _audiences(claims: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for key in ("aud", "tenant"):
        value = claims.get(key)
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            found += [v for v in value if isinstance(v, str)]
    return found


def verify_identity_token(token: str, *, secret: str, tenant: str, now: float | None = None) -> Visitor:
    """Return the verified visitor, or raise :class:`IdentityError`."""
    if not secret:
        raise IdentityError(f"tenant {tenant!r} has no identity secret, so it cannot accept identity tokens")
    if not isinstance(token, str) or token.count(".") != 2:
        raise IdentityError("the identity token is not a JWT")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise IdentityError("the identity token is not a JWT") from None
    if header.get("alg") != "HS256":
        raise IdentityError(f"identity tokens must be signed with HS256, not {header.get('alg')!r}")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
        )
    except jwt.InvalidSignatureError:
        raise IdentityError("the identity token's signature is invalid (signed with another secret?)") from None
    except jwt.PyJWTError as exc:
        raise IdentityError(f"the identity token cannot be read: {exc}") from None

    now = time.time() if now is None else now
    audiences = _audiences(claims)
    if not audiences:
        raise IdentityError("the identity token names no tenant (set 'aud' or 'tenant' to the tenant's name)")
    if tenant not in audiences:
        raise IdentityError(f"the identity token is for {', '.join(map(repr, audiences))}, not for tenant {tenant!r}")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise IdentityError("the identity token has no expiry ('exp' is required)")
    for claim in ("exp", "iat", "nbf"):
        value = claims.get(claim)
        # JSON lets a token say 1e999 (infinity) or NaN: neither is a time, and NaN compares false
        if isinstance(value, float) and not math.isfinite(value):
            raise IdentityError(f"the identity token's {claim!r} is not a time ({value})")
    if exp + LEEWAY < now:
        raise IdentityError(f"the identity token expired {int(now - exp)} seconds ago")
    iat = claims.get("iat")
    if iat is not None and (not isinstance(iat, int | float) or iat - LEEWAY > now):
        raise IdentityError("the identity token is issued in the future ('iat')")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf - LEEWAY > now:
        raise IdentityError("the identity token is not valid yet ('nbf')")
    lifetime = exp - (iat if isinstance(iat, int | float) else now)
    if lifetime > MAX_LIFETIME + LEEWAY:
        raise IdentityError(f"the identity token lives too long ({int(lifetime)} s; at most {MAX_LIFETIME} s)")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip():
        raise IdentityError("the identity token has no user id ('sub')")
    email = claims.get("email")
    if email is not None and (not isinstance(email, str) or "@" not in email):
        raise IdentityError("the identity token's 'email' is not an email address")
    role = claims.get("role")
    if role not in (None, "staff", "customer"):
        raise IdentityError(f"the identity token's role {role!r} is unknown (use 'staff' or leave it out)")
    return Visitor(id=f"user:{sub}", kind="staff" if role == "staff" else "identified", user_id=sub, email=email)


def issue_identity_token(
    *,
    secret: str,
    tenant: str,
    sub: str,
    email: str | None = None,
    staff: bool = False,
    ttl: int = DEFAULT_TTL,
    now: float | None = None,
) -> str:
    """What a host site does (shown here for tests, the CLI and the docs)."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": sub, "aud": tenant, "iat": issued, "exp": issued + ttl}
    if email:
        claims["email"] = email
    if staff:
        claims["role"] = "staff"
    return jwt.encode(claims, secret, algorithm="HS256")
