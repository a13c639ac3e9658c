"""The old NestJS routes, byte-compatible, so widgets built for that service work unchanged.

The stream's shape (one paced frame per write, nothing before the first text) is explained in
:mod:`proxy.api.old_stream`.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody
from litestar.response import Stream
from msgspec import Meta, Struct

from proxy.api.deps import CallerDep, ServicesDep
from proxy.api.old_stream import old_reply
from proxy.api.turns import begin_turn, enforce_limits


class ProcessMessageIn(Struct):
    """The old body (a msgspec struct, as the v1 routes' bodies: see :mod:`proxy.api.threads`)."""

    threadId: Annotated[str, Meta(min_length=1, max_length=200)]
    message: str


class CompatController(Controller):
    path = "/open-ai"
    tags = ["compatibility"]
    include_in_schema = True

    @get("/create-thread", summary="Old route: create a thread (answers a thread object)")
    async def create_thread(
        self, request: Request[Any, Any, Any], caller: CallerDep, services: ServicesDep
    ) -> dict[str, Any]:
        await enforce_limits(services, caller, request, "thread")
        thread = await services.threads.create(
            tenant=caller.tenant.name, visitor=caller.visitor, engine=caller.tenant.config.engine
        )
        created = int(thread.created_at.timestamp())
        return {"id": thread.id, "object": "thread", "created_at": created, "metadata": {}, "tool_resources": {}}

    @post("/process-message", status_code=200, media_type="text/event-stream", summary="Old route: send a message")
    async def process_message(
        self,
        request: Request[Any, Any, Any],
        caller: CallerDep,
        services: ServicesDep,
        data: JSONBody[ProcessMessageIn],
    ) -> Stream:
        run = await begin_turn(services, caller, request, data.threadId, data.message)
        return await old_reply(run, request, services.turns, services.threads, gap=services.settings.compat_frame_gap)
