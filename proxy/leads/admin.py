"""The tenant's admin API: leads and handoffs with their delivery status, CSV export, retry.

Only with the tenant's client key: a widget's origin identifies a site, not its owner, so a
request authenticated by ``Origin`` alone is refused even when it names the right tenant.
Everything is scoped to the caller's tenant; another tenant's ids answer 404.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from proxy.api.deps import Caller, CallerDep
from proxy.api.errors import ApiError
from proxy.leads.store import list_records
from proxy.mail import outbox
from proxy.store.db import Database

DbDep = NamedDependency[Database]

MAX_LIMIT = 1000
CSV_LIMIT = 50_000
CSV_COLUMNS = [
    "id",
    "created_at",
    "name",
    "email",
    "phone",
    "message",
    "page_url",
    "consent",
    "source",
    "thread_id",
    "visitor",
    "delivery_status",
    "email_state",
    "email_attempts",
    "email_error",
]


def require_client_key(caller: Caller) -> None:
    if not caller.via_client_key:
        raise ApiError(
            403, "client_key_required", "The admin API needs the tenant's client key (Authorization: Bearer <key>)."
        )


def parse_when(value: str | None, name: str, *, end: bool = False) -> datetime | None:
    """ISO date or date-time; a bare date as ``until`` includes that whole day. Naive means UTC."""
    if value is None or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace(" ", "+")
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1) if end else day, time(), UTC)
        else:
            moment = datetime.fromisoformat(text)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        moment.astimezone(UTC)  # an offset can push a date at the calendar's end past it
    except ValueError:
        raise ApiError(400, "invalid_date", f"{name} must be a date (2025-01-31) or an ISO date-time.") from None
    except OverflowError:
        raise ApiError(
            400, "invalid_date", f"{name} is out of range: use a date before 9999-12-31 (or leave it out)."
        ) from None
    return moment


def _limit(value: int, ceiling: int = MAX_LIMIT) -> int:
    if not 1 <= value <= ceiling:
        raise ApiError(400, "invalid_limit", f"limit must be between 1 and {ceiling}.")
    return value


def _csv_safe(value: Any) -> str:
    """Cells a spreadsheet would run as a formula get a leading quote (CSV injection)."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def leads_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        mail: dict[str, Any] = next((d for d in row["deliveries"] if d["kind"] == "email"), {})
        flat = {
            **row,
            "email_state": mail.get("state"),
            "email_attempts": mail.get("attempts"),
            "email_error": mail.get("last_error"),
        }
        writer.writerow([_csv_safe(flat.get(column)) for column in CSV_COLUMNS])
    return out.getvalue()


class LeadsAdminController(Controller):
    path = "/v1/admin"
    tags = ["admin"]

    async def _records(
        self, table: str, caller: Caller, db: Database, since: str | None, until: str | None, limit: int
    ) -> list[dict[str, Any]]:
        require_client_key(caller)
        return await list_records(
            db,
            table,
            tenant=caller.tenant.name,
            since=parse_when(since, "since"),
            until=parse_when(until, "until", end=True),
            limit=limit,
        )

    @get("/leads", summary="Leads, newest first, with the state of their mail and webhook")
    async def list_leads(
        self,
        caller: CallerDep,
        db: DbDep,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        limit: FromQuery[int] = 100,
    ) -> dict[str, Any]:
        rows = await self._records("leads", caller, db, since, until, _limit(limit))
        return {"leads": rows}

    @get("/handoffs", summary="Handoffs to a human, newest first, with their delivery state")
    async def list_handoffs(
        self,
        caller: CallerDep,
        db: DbDep,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        limit: FromQuery[int] = 100,
    ) -> dict[str, Any]:
        rows = await self._records("handoffs", caller, db, since, until, _limit(limit))
        return {"handoffs": rows}

    @get("/leads.csv", summary="Leads as CSV", media_type="text/csv")
    async def export_leads(
        self,
        caller: CallerDep,
        db: DbDep,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        limit: FromQuery[int] = CSV_LIMIT,
    ) -> Response[str]:
        rows = await self._records("leads", caller, db, since, until, _limit(limit, CSV_LIMIT))
        filename = f"leads-{caller.tenant.name}-{datetime.now(UTC):%Y%m%d}.csv".replace('"', "")
        return Response(
            leads_csv(rows),
            media_type="text/csv",  # Litestar adds "; charset=utf-8" to text types
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @get("/outbox", summary="Notifications by state, e.g. ?state=dead")
    async def list_outbox(
        self,
        caller: CallerDep,
        db: DbDep,
        state_filter: Annotated[str | None, QueryParameter(name="state")] = None,  # `state` is reserved
        limit: FromQuery[int] = 100,
    ) -> dict[str, Any]:
        require_client_key(caller)
        state = state_filter
        if state is not None and state not in ("pending", "sending", "sent", "dead"):
            raise ApiError(400, "invalid_state", "state must be one of pending, sending, sent, dead.")
        rows = await db.fetch_all(
            f"select {outbox.ROW_COLUMNS} from outbox where tenant = %s and (%s::text is null or state = %s)"
            " order by id desc limit %s",
            (caller.tenant.name, state, state, _limit(limit)),
        )
        return {"outbox": [outbox.public_row(r) for r in rows]}

    @post("/outbox/{outbox_id:int}/retry", status_code=200, summary="Send a dead-lettered notification again")
    async def retry_outbox(self, outbox_id: FromPath[int], caller: CallerDep, db: DbDep) -> dict[str, Any]:
        require_client_key(caller)
        status, row = await outbox.retry(db, outbox_id, tenant=caller.tenant.name)
        if status == "missing" or row is None:
            raise ApiError(404, "outbox_not_found", "No such notification.")
        if status == "conflict":
            raise ApiError(
                409,
                "not_retryable",
                f"The notification is {row['state']}; only dead or pending ones can be retried.",
                state=row["state"],
            )
        return {"outbox": outbox.public_row(row)}
