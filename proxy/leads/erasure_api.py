"""The admin API for a person's data: export it, erase it, and the log of erasures.

Client key only, like the rest of the admin API (see :mod:`proxy.leads.admin`).

* ``GET /v1/admin/people/export?email=...`` (or ``visitor_id=`` / ``user_id=``): one JSON document.
* ``POST /v1/admin/people/erase`` ``{"email": "..."}`` (or ``visitor_id`` / ``user_id``): erases it
  all, with the provider-side copies, and answers what the audit row records.
* ``GET /v1/admin/people/erasures``: the audit rows, newest first.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody
from pydantic import BaseModel, ConfigDict, Field

from proxy.api.deps import Caller, CallerDep, ServicesDep
from proxy.api.errors import ApiError
from proxy.leads import erasure
from proxy.leads.admin import require_client_key
from proxy.store.db import Database

DbDep = NamedDependency[Database]


class SubjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, max_length=320)
    visitor_id: str | None = Field(None, max_length=130)
    user_id: str | None = Field(None, max_length=256)


def subject_of(caller: Caller, given: SubjectIn) -> erasure.Subject:
    require_client_key(caller)
    named = [(kind, value) for kind in erasure.SUBJECT_KINDS if (value := getattr(given, kind)) and value.strip()]
    if len(named) != 1:
        raise ApiError(400, "invalid_subject", "Name the person by exactly one of email, visitor_id or user_id.")
    kind, value = named[0]
    if kind == "email" and "@" not in value:
        raise ApiError(400, "invalid_subject", "email is not an email address.")
    return erasure.Subject(caller.tenant.name, kind, value.strip())


class PeopleAdminController(Controller):
    path = "/v1/admin/people"
    tags = ["admin"]

    @get("/export", summary="Everything held about a person, as one JSON document")
    async def export_person(
        self,
        caller: CallerDep,
        db: DbDep,
        email: FromQuery[str | None] = None,
        visitor_id: FromQuery[str | None] = None,
        user_id: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        subject = subject_of(caller, SubjectIn(email=email, visitor_id=visitor_id, user_id=user_id))
        return await erasure.export(db, subject)

    @post("/erase", status_code=200, summary="Erase everything held about a person, provider-side copies too")
    async def erase_person(self, caller: CallerDep, services: ServicesDep, data: JSONBody[SubjectIn]) -> dict[str, Any]:
        subject = subject_of(caller, data)
        return await erasure.erase(services.db, subject, requested_via="admin_api", engines=services.engines)

    @get("/erasures", summary="The erasures done: what and when, never whose or what it said")
    async def erasures(self, caller: CallerDep, db: DbDep, limit: FromQuery[int] = 100) -> dict[str, Any]:
        require_client_key(caller)
        if not 1 <= limit <= 1000:
            raise ApiError(400, "invalid_limit", "limit must be between 1 and 1000.")
        return {"erasures": await erasure.audit_log(db, caller.tenant.name, limit)}
