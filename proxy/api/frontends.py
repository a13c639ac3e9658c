"""Routes for chat front ends that speak their own protocol: the AI SDK's ``useChat`` and AG-UI.

Both start a turn the way ``POST /v1/threads/{id}/messages`` does (``begin_turn``: the same origin
rules, limits, budgets and thread lock) and stream the same run events through a protocol's
mapping (``proxy/api/protocols``). The conversation's history is ours: of the messages a client
sends, only the newest one, the user's, is taken. The chat ``id`` / AG-UI ``threadId`` is one of
our threads (``POST /v1/threads``), the caller's own.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import Stream
from pydantic import BaseModel, ConfigDict, Field

from proxy.api.deps import CallerDep, ServicesDep
from proxy.api.errors import ApiError
from proxy.api.protocols.agui import agui_frames
from proxy.api.protocols.ai_sdk import HEADERS as UI_STREAM_HEADERS
from proxy.api.protocols.ai_sdk import ui_message_frames
from proxy.api.sse import event_stream
from proxy.api.threads import owned_thread, run_batches
from proxy.api.turns import begin_turn

Id = Annotated[str, Field(min_length=1, max_length=200)]


# -- the AI SDK's UI message stream ------------------------------------------------------------------


class UIPartIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class UIMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = ""
    role: Literal["system", "user", "assistant"]
    parts: list[UIPartIn]


class UIChatIn(BaseModel):
    """The body ``useChat``'s default transport sends; other fields (its ``body`` option) are ignored."""

    model_config = ConfigDict(extra="allow")

    id: Id
    messages: list[UIMessageIn] = Field(min_length=1, max_length=1000)
    trigger: Literal["submit-message", "regenerate-message"]
    messageId: str | None = None
    page_url: str | None = Field(None, max_length=2000, description="The page the visitor is on")


def newest_user_text(message: UIMessageIn) -> str:
    if message.role != "user":
        raise ApiError(400, "invalid_request", "The last message must be the user's new message.")
    return "".join(part.text or "" for part in message.parts if part.type == "text")


class UIChatController(Controller):
    path = "/v1/ui/chat"
    tags = ["front ends"]

    @post(
        "/",
        status_code=200,
        media_type="text/event-stream",
        summary="AI SDK useChat: send a message; the reply streams as the UI message stream (v1)",
    )
    async def send(
        self,
        request: Request[Any, Any, Any],
        caller: CallerDep,
        services: ServicesDep,
        data: JSONBody[UIChatIn],
    ) -> Stream:
        if data.trigger == "regenerate-message":
            raise ApiError(
                400,
                "unsupported_trigger",
                "Regenerating a reply is not supported: the conversation is kept by the server.",
            )
        text = newest_user_text(data.messages[-1])
        run = await begin_turn(services, caller, request, data.id, text, page_url=data.page_url)
        batches = services.turns.follow(run, heartbeat=services.settings.heartbeat_interval)
        stream = event_stream(ui_message_frames(batches))
        stream.headers.update(UI_STREAM_HEADERS)
        return stream

    @get(
        "/{chat_id:str}/stream",
        media_type="text/event-stream",
        summary="AI SDK useChat resume: the running reply from its start, or 204 when none is running",
    )
    async def resume(self, chat_id: FromPath[str], caller: CallerDep, services: ServicesDep) -> Response[Any]:
        thread = await owned_thread(services, caller, chat_id)
        run_id = await services.threads.active_run(thread.id)
        if run_id is None:
            return Response(None, status_code=204)
        try:
            batches = await run_batches(services, thread, run_id, start=0)
        except ApiError:  # it ended meanwhile
            return Response(None, status_code=204)
        stream = event_stream(ui_message_frames(batches))
        stream.headers.update(UI_STREAM_HEADERS)
        return stream


# -- AG-UI -------------------------------------------------------------------------------------------


class AguiMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = ""
    role: str
    content: str | list[dict[str, Any]] | None = None


class RunAgentIn(BaseModel):
    """AG-UI's ``RunAgentInput``. ``tools`` (front-end tools), ``state``, ``context`` and
    ``forwardedProps`` are accepted and ignored; ``resume`` (answering interrupts) is refused."""

    model_config = ConfigDict(extra="allow")

    threadId: Id
    runId: Id
    messages: list[AguiMessageIn] = Field(min_length=1, max_length=1000)
    tools: list[dict[str, Any]] = Field(default_factory=list)
    context: list[dict[str, Any]] = Field(default_factory=list)
    state: Any = None
    forwardedProps: Any = None
    resume: list[dict[str, Any]] | None = None


def agui_user_text(message: AguiMessageIn) -> str:
    if message.role != "user":
        raise ApiError(
            400,
            "unsupported_message",
            f"The last message must be the user's new message, not a {message.role!r} message:"
            " front-end tools are not supported.",
        )
    if isinstance(message.content, list):
        return "".join(str(part.get("text", "")) for part in message.content if part.get("type") == "text")
    return message.content or ""


class AguiController(Controller):
    path = "/v1/agui"
    tags = ["front ends"]

    @post("/", status_code=200, media_type="text/event-stream", summary="AG-UI: run the assistant on a thread")
    async def run(
        self,
        request: Request[Any, Any, Any],
        caller: CallerDep,
        services: ServicesDep,
        data: JSONBody[RunAgentIn],
    ) -> Stream:
        if data.resume:
            raise ApiError(400, "unsupported_resume", "Interrupts are not supported: this agent never raises any.")
        text = agui_user_text(data.messages[-1])
        run = await begin_turn(services, caller, request, data.threadId, text)
        batches = services.turns.follow(run, heartbeat=services.settings.heartbeat_interval)
        return event_stream(agui_frames(batches, thread_id=data.threadId, run_id=data.runId))
