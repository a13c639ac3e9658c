"""Staff sign-in: a tenant's client key or a staff identity token buys a session cookie.

The cookie holds a random token (HttpOnly, SameSite=Strict, path ``/console``); the database keeps
only its hash, so every worker and instance knows the session and a forged value finds nothing.
Requests that change anything must come from the console's own origin (``Origin``, when the
browser sends it, names this host) and carry the session's CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from litestar import Request
from litestar.datastructures import Cookie

from proxy.api.errors import ApiError
from proxy.identity import IdentityError, verify_identity_token
from proxy.services import Services
from proxy.store.db import Database
from proxy.tenants import Tenant

COOKIE = "proxy_console"
CSRF_HEADER = "x-csrf-token"
LIFETIME_HOURS = 12
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class StaffSession:
    tenant: str
    staff_id: str
    name: str
    csrf: str

    def public(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "name": self.name, "staff_id": self.staff_id, "csrf_token": self.csrf}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _clean_name(name: str | None, fallback: str) -> str:
    name = " ".join((name or "").split())[:60]
    return name or fallback


def check_same_origin(request: Request[Any, Any, Any]) -> None:
    """Refuse a request another site's page made (a cross-site form or fetch)."""
    origin = request.headers.get("origin")
    if origin is None:
        fetch_site = request.headers.get("sec-fetch-site")
        if fetch_site in ("cross-site", "same-site"):
            raise ApiError(403, "cross_site", "The console accepts changes only from its own pages.")
        return
    host = request.headers.get("host", "")
    if origin == "null" or origin.split("://", 1)[-1].rstrip("/") != host:
        raise ApiError(403, "cross_site", "The console accepts changes only from its own pages.")


def _staff_tenant(services: Services, token: str) -> tuple[Tenant, str, str]:
    """The tenant, staff id and default name of a staff identity token; 401 if it is not one."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise ApiError(401, "invalid_identity_token", "The identity token is not a JWT.") from None
    names = [claims.get("aud"), claims.get("tenant")]
    flat = [n for v in names for n in (v if isinstance(v, list) else [v]) if isinstance(n, str)]
    tenant = next((t for n in flat if (t := services.tenants.get(n)) is not None), None)
    if tenant is None or tenant.identity_secret is None:
        raise ApiError(401, "invalid_identity_token", "The identity token is not for a site here.")
    try:
        visitor = verify_identity_token(token, secret=tenant.identity_secret, tenant=tenant.name)
    except IdentityError as exc:
        raise ApiError(401, "invalid_identity_token", str(exc)) from None
    if visitor.kind != "staff" or not visitor.user_id:
        raise ApiError(403, "not_staff", 'The identity token is not a staff member\'s (role "staff").')
    return tenant, f"user:{visitor.user_id}", visitor.email or visitor.user_id


async def sign_in(
    services: Services, *, client_key: str | None, identity_token: str | None, name: str | None
) -> tuple[StaffSession, Cookie]:
    token = secrets.token_urlsafe(32)
    if identity_token:
        tenant, staff_id, fallback = _staff_tenant(services, identity_token)
    elif client_key:
        found = services.tenants.by_client_key(client_key)
        if found is None:
            raise ApiError(401, "invalid_client_key", "The client key is not valid.")
        # people sharing the key are told apart by their session
        tenant, staff_id, fallback = found, f"session:{_hash(token)[:16]}", "Staff"
    else:
        raise ApiError(401, "unauthenticated", "Sign in with the site's client key or a staff identity token.")
    session = StaffSession(tenant.name, staff_id, _clean_name(name, fallback), secrets.token_urlsafe(24))
    await services.db.execute(
        "insert into console_sessions (token_hash, tenant, staff_id, staff_name, csrf, expires_at)"
        " values (%s, %s, %s, %s, %s, now() + make_interval(hours => %s))",
        (_hash(token), session.tenant, session.staff_id, session.name, session.csrf, LIFETIME_HOURS),
    )
    return session, session_cookie(token)


def session_cookie(value: str, *, max_age: int = LIFETIME_HOURS * 3600, secure: bool = False) -> Cookie:
    return Cookie(
        key=COOKIE, value=value, path="/console", httponly=True, samesite="strict", max_age=max_age, secure=secure
    )


async def sign_out(db: Database, request: Request[Any, Any, Any]) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        await db.execute("delete from console_sessions where token_hash = %s", (_hash(token),))


async def current_session(request: Request[Any, Any, Any]) -> StaffSession:
    """The signed-in staff member; 401 without a valid session; 403 for a cross-site change."""
    services: Services = request.app.state.services
    unsafe = request.method not in _SAFE
    if unsafe:
        check_same_origin(request)
    token = request.cookies.get(COOKIE)
    if not token:
        raise ApiError(401, "unauthenticated", "Sign in to the console first.")
    row = await services.db.fetch_one(
        "select tenant, staff_id, staff_name, csrf from console_sessions where token_hash = %s and expires_at > now()",
        (_hash(token),),
    )
    if row is None or services.tenants.get(row["tenant"]) is None:
        raise ApiError(401, "session_expired", "The console session is not valid; sign in again.")
    session = StaffSession(row["tenant"], row["staff_id"], row["staff_name"], row["csrf"])
    if unsafe and not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), session.csrf):
        raise ApiError(403, "csrf_failed", "The request lacks the console's CSRF token.")
    return session
