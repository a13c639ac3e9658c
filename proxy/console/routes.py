"""The console's page and its API under ``/console`` (signed-in staff of one tenant only)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream
from pydantic import BaseModel, ConfigDict, Field

from proxy.api.deps import ServicesDep, check_auth_throttle, count_auth_failure
from proxy.api.errors import ApiError
from proxy.api.sse import event_stream
from proxy.api.validation import check_id, reject_nul
from proxy.console import dashboard, inbox, takeover
from proxy.console.runtime import console_of
from proxy.console.sessions import StaffSession, check_same_origin, current_session, session_cookie, sign_in, sign_out
from proxy.console.streams import console_events
from proxy.services import Services
from proxy.turns.remote_cancel import request_cancel

STATIC = Path(__file__).resolve().parent / "static"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
    " connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
StaffDep = NamedDependency[StaffSession]
LIVE_POLL = 1.5  # seconds between the console's looks for replies nobody announced
MAX_STAFF_MESSAGE = 4000


@lru_cache(maxsize=8)
def _asset(name: str) -> bytes:
    return (STATIC / name).read_bytes()


@get(["/console", "/console/dashboard"], include_in_schema=False, sync_to_thread=False)
def console_page() -> Response[bytes]:
    """The console's one page; it asks the API whether someone is signed in."""
    return Response(_asset("console.html"), media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


@get("/console/static/{name:str}", include_in_schema=False, sync_to_thread=False)
def console_asset(name: FromPath[str]) -> Response[bytes]:
    if name not in ("console.js", "console.css", "charts.js"):
        raise ApiError(404, "not_found", "No such file.")
    media = _TYPES[Path(name).suffix]
    return Response(_asset(name), media_type=media, headers={**_PAGE_HEADERS, "Cache-Control": "no-cache"})


class SignInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_key: str | None = Field(None, max_length=512)
    identity_token: str | None = Field(None, max_length=4096)
    name: str | None = Field(None, max_length=120, description="How the visitor sees you")


class StaffMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(max_length=MAX_STAFF_MESSAGE)


class PriceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=120)
    input_per_mtok: Decimal = Field(ge=0, le=100000)
    output_per_mtok: Decimal = Field(ge=0, le=100000)


@post("/console/api/session", status_code=200, tags=["console"], summary="Sign in to the console")
async def create_session(
    request: Request[Any, Any, Any], services: ServicesDep, data: JSONBody[SignInIn]
) -> Response[dict[str, Any]]:
    check_same_origin(request)
    await check_auth_throttle(request, services)  # wrong keys and tokens count as for the API
    try:
        session, cookie = await sign_in(
            services, client_key=data.client_key, identity_token=data.identity_token, name=data.name
        )
    except ApiError as exc:
        if exc.status_code in (401, 403):
            await count_auth_failure(request, services)
        raise
    cookie.secure = request.url.scheme == "https"
    return Response(session.public(), cookies=[cookie], headers={"Cache-Control": "no-store"})


async def provide_staff(request: Request[Any, Any, Any]) -> StaffSession:
    return await current_session(request)


async def _thread(services: Services, staff: StaffSession, thread_id: str) -> dict[str, Any]:
    check_id(thread_id)
    thread = await inbox.thread_of_tenant(services.db, staff.tenant, thread_id)
    if thread is None:
        raise ApiError(404, "thread_not_found", "No such conversation.")
    return thread


class ConsoleController(Controller):
    path = "/console/api"
    tags = ["console"]
    dependencies = {"staff": Provide(provide_staff)}

    @get("/me", summary="Who is signed in")
    async def me(self, staff: StaffDep) -> dict[str, Any]:
        return staff.public()

    @post("/session/end", status_code=200, summary="Sign out")
    async def end_session(
        self, request: Request[Any, Any, Any], staff: StaffDep, services: ServicesDep
    ) -> Response[dict[str, Any]]:
        await sign_out(services.db, request)
        return Response({"signed_out": True}, cookies=[session_cookie("", max_age=0)])

    @get("/inbox", summary="Conversations that asked for a person, newest first")
    async def handoffs(self, staff: StaffDep, services: ServicesDep) -> dict[str, Any]:
        return {"handoffs": await inbox.handoff_inbox(services.db, staff.tenant)}

    @get("/conversations", summary="Recent conversations, optionally those containing some words")
    async def conversations(
        self, staff: StaffDep, services: ServicesDep, q: Annotated[str, QueryParameter(max_length=200)] = ""
    ) -> dict[str, Any]:
        return {"conversations": await inbox.search_conversations(services.db, staff.tenant, q)}

    @get("/threads/{thread_id:str}", summary="One conversation: its transcript, handoffs and holder")
    async def thread(self, thread_id: FromPath[str], staff: StaffDep, services: ServicesDep) -> dict[str, Any]:
        thread = await _thread(services, staff, thread_id)
        found = await takeover.holder(services.db, thread_id)
        return {
            "thread_id": thread["id"],
            "visitor_kind": thread["visitor_kind"],
            "visitor_email": thread["visitor_email"],
            "created_at": int(thread["created_at"].timestamp()),
            "messages": await inbox.messages_after(services.db, thread_id, 0, limit=1000),
            "handoffs": await inbox.handoffs_of(services.db, staff.tenant, thread_id),
            "holder": None if found is None else {**found.public(), "staff_id": found.staff_id},
        }

    @get("/threads/{thread_id:str}/live", media_type="text/event-stream", summary="The conversation as it happens")
    async def live(
        self,
        request: Request[Any, Any, Any],
        thread_id: FromPath[str],
        staff: StaffDep,
        services: ServicesDep,
        after: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> Stream:
        await _thread(services, staff, thread_id)
        return event_stream(console_events(console_of(request).hub, thread_id, after=after, poll=LIVE_POLL))

    @post("/threads/{thread_id:str}/takeover", status_code=200, summary="Hold the conversation: the assistant stops")
    async def take_over(
        self, request: Request[Any, Any, Any], thread_id: FromPath[str], staff: StaffDep, services: ServicesDep
    ) -> dict[str, Any]:
        await _thread(services, staff, thread_id)
        mine, found = await takeover.take_over(
            services.db, tenant=staff.tenant, thread_id=thread_id, staff_id=staff.staff_id, name=staff.name
        )
        if not mine:
            raise ApiError(409, "held_by_other", f"{found.name} holds this conversation.", holder=found.public())
        run_id = await services.threads.active_run(thread_id)
        if run_id and not services.turns.cancel(run_id, thread_id=thread_id):
            await request_cancel(services.db, thread_id=thread_id, run_id=run_id)  # it runs on another worker
        await console_of(request).hub.announce(thread_id)
        return {"holder": {**found.public(), "staff_id": found.staff_id}}

    @post("/threads/{thread_id:str}/handback", status_code=200, summary="Let the assistant answer again")
    async def hand_back(
        self, request: Request[Any, Any, Any], thread_id: FromPath[str], staff: StaffDep, services: ServicesDep
    ) -> dict[str, Any]:
        await _thread(services, staff, thread_id)
        ended = await takeover.hand_back(services.db, thread_id=thread_id, staff_id=staff.staff_id)
        if ended is None:
            raise ApiError(409, "not_holder", "You do not hold this conversation.")
        await console_of(request).hub.announce(thread_id)
        return {"holder": None, "ended": ended.public()}

    @post("/threads/{thread_id:str}/messages", status_code=201, summary="Write to the visitor as yourself")
    async def post_message(
        self,
        request: Request[Any, Any, Any],
        thread_id: FromPath[str],
        staff: StaffDep,
        services: ServicesDep,
        data: JSONBody[StaffMessageIn],
    ) -> dict[str, Any]:
        await _thread(services, staff, thread_id)
        text = reject_nul(data.content, "message").strip()
        if not text:
            raise ApiError(400, "empty_message", "The message is empty.")
        row = await takeover.post_staff_message(services.db, thread_id=thread_id, staff_id=staff.staff_id, text=text)
        if row is None:
            raise ApiError(409, "not_holder", "Take the conversation over before writing in it.")
        await console_of(request).hub.announce(thread_id)
        return inbox.message_out(row)

    @get("/dashboard", summary="The figures per day, the questions, what was missing, tools and errors")
    async def figures(
        self, staff: StaffDep, services: ServicesDep, days: Annotated[int, QueryParameter(ge=1, le=90)] = 14
    ) -> dict[str, Any]:
        return await dashboard.figures(services.db, staff.tenant, days=days)

    @post("/prices", status_code=200, summary="Set a model's price per million tokens (for the cost estimate)")
    async def set_price(self, staff: StaffDep, services: ServicesDep, data: JSONBody[PriceIn]) -> dict[str, Any]:
        await dashboard.set_price(services.db, staff.tenant, data.model, data.input_per_mtok, data.output_per_mtok)
        return {
            "prices": [
                {"model": m, "input_per_mtok": float(p[0]), "output_per_mtok": float(p[1])}
                for m, p in sorted((await dashboard.prices(services.db, staff.tenant)).items())
            ]
        }


console_routes: list[Any] = [console_page, console_asset, create_session, ConsoleController]
