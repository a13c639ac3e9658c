"""Who is calling: the tenant (by origin or client key) and the visitor, fail-closed."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from proxy.api.errors import ApiError
from proxy.identity import IdentityError, verify_identity_token
from proxy.limits.limiter import RateLimited, rate_limited_error
from proxy.services import Services
from proxy.store.db import Database
from proxy.tenants import Tenant, normalize_host
from proxy.visitors import Visitor

_VISITOR_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")


@dataclass(frozen=True, slots=True)
class Caller:
    tenant: Tenant
    visitor: Visitor
    via_client_key: bool


def bearer_token(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def check_auth_throttle(request: Request[Any, Any, Any], services: Services) -> None:
    """429 for an address that sent too many wrong keys lately, before its key is even looked at."""
    try:
        await services.limiter.check_auth(services.limiter.client_ip(request))
    except RateLimited as exc:
        raise rate_limited_error(exc) from None


async def count_auth_failure(request: Request[Any, Any, Any], services: Services) -> None:
    await services.limiter.auth_failed(services.limiter.client_ip(request))


def _visitor(request: Request[Any, Any, Any], tenant: Tenant) -> Visitor:
    # a query parameter too, for EventSource, which cannot send headers
    raw = request.headers.get("x-visitor-id") or None
    if raw is None and request.scope["query_string"]:  # (no query parameters parsed for nothing)
        raw = request.query_params.get("visitor_id")
    if raw is None:
        visitor = Visitor()
    elif not _VISITOR_ID.match(raw):
        raise ApiError(400, "invalid_visitor_id", "X-Visitor-Id must be 8-128 letters, digits or -_.:")
    else:
        visitor = Visitor(id=f"v:{raw}")
    return identified(tenant, visitor, request.headers.get("x-identity-token"))


def identified(tenant: Tenant, visitor: Visitor, token: str | None) -> Visitor:
    """The visitor as the host site vouches for it in this request's identity token, if any.

    Checked on every request, so access to a signed-in user's thread ends when the token expires
    or the widget stops sending it (sign-out).
    """
    if not token:
        return visitor
    secret = tenant.identity_secret
    if secret is None:
        raise ApiError(400, "identity_not_enabled", "This site does not accept identity tokens.")
    try:
        verified = verify_identity_token(token, secret=secret, tenant=tenant.name)
    except IdentityError as exc:
        raise ApiError(401, "invalid_identity_token", str(exc)) from None
    return dataclasses.replace(verified, id=visitor.id)


async def resolve_caller(request: Request[Any, Any, Any], services: Services) -> Caller:
    """Origin (else Referer) picks the tenant; without either, a client key must.

    Wrong client keys count towards the address's failed authentications; past the limit every
    request with a key from that address gets 429, the right key included, so keys cannot be
    guessed at speed.
    """
    tenants = services.tenants
    key = bearer_token(request)
    if key is not None:
        await check_auth_throttle(request, services)
    source = request.headers.get("origin") or request.headers.get("referer")
    if source and source != "null":
        host = normalize_host(source)
        tenant = tenants.by_host(host) if host else None
        if tenant is None:
            raise ApiError(403, "unknown_origin", f"Origin {host or source!r} is not a configured site.")
        via_client_key = bool(key and tenant.accepts_client_key(key))
        if key and not via_client_key:
            await count_auth_failure(request, services)
        return Caller(tenant, _visitor(request, tenant), via_client_key=via_client_key)
    if key is None:
        raise ApiError(401, "unauthenticated", "Send an Origin header from a configured site, or a client key.")
    tenant = tenants.by_client_key(key)
    if tenant is None:
        await count_auth_failure(request, services)
        raise ApiError(401, "invalid_client_key", "The client key is not valid.")
    return Caller(tenant, _visitor(request, tenant), via_client_key=True)


async def provide_caller(request: Request[Any, Any, Any], services: NamedDependency[Services]) -> Caller:
    # ``services`` is the ``services`` dependency: resolved first, it puts the two in separate
    # rounds of Litestar's resolution, so a route taking both awaits them in turn rather than in
    # a task group of two tasks of their own (about 7 % of a new chat's worker time)
    return await resolve_caller(request, services)


class AppServices:
    """The app's :class:`Services` once its lifespan built them, handed to routes as the ``services``
    and ``db`` dependencies.

    Its methods take no parameters, so Litestar calls them without first validating their
    arguments through a signature model (as it does for a provider taking ``request``, to read
    ``request.app.state``): the ``services`` dependency resolved in 0.8 µs instead of 4.9-9.3 (best
    of five, in-process), on every route.
    """

    __slots__ = ("current",)

    def __init__(self) -> None:
        self.current: Services | None = None

    def services(self) -> Services:
        current = self.current
        if current is None:
            raise RuntimeError("the application has not started")
        return current

    def db(self) -> Database:
        return self.services().db


CallerDep = NamedDependency[Caller]
ServicesDep = NamedDependency[Services]
