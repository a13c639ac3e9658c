"""The Litestar application: OpenAI's routes under ``/v1``, the test controls under ``/_sim``."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException

from proxy.simulator.assistants import AssistantController, ThreadController
from proxy.simulator.chat import ChatController
from proxy.simulator.config import SimulatorConfig
from proxy.simulator.control import ControlController
from proxy.simulator.conversations import ConversationController, switched_off
from proxy.simulator.embeddings import EmbeddingController
from proxy.simulator.errors import APIError, api_error_handler, http_exception_handler, internal_error_handler
from proxy.simulator.models import ModelController
from proxy.simulator.responses import ResponseController
from proxy.simulator.runs import RunController
from proxy.simulator.state import SimulatorState
from proxy.simulator.streaming import install_log_filter

__all__ = ("create_simulator_app",)

_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


def _api_key(request: Request[Any, Any, Any]) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip()
    return request.headers.get("api-key") or None  # Azure's header


async def _admit(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """Log every ``/v1`` request, then check its key: any works except ``sk-invalid...``.

    Routes switched off in the config answer as a server without them would, before the key.
    """
    sim: SimulatorState = request.app.state.sim
    try:
        body = await request.json()
    except Exception:  # the handler answers the bad body; the log keeps what came
        body = (await request.body()).decode(errors="replace")
    key = _api_key(request)
    request.state.sim_entry = sim.log.add(request.method, request.url.path, body, key)
    if (missing := switched_off(request, sim)) is not None:
        return missing
    if key is None:
        raise APIError(401, _NO_KEY)
    if key.startswith("sk-invalid"):
        raise APIError(
            401,
            f"Incorrect API key provided: {key[:8]}{'*' * max(0, len(key) - 12)}{key[-4:]}. "
            "You can find your API key at https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
    return None


def _provide_sim(state: State) -> SimulatorState:
    return state.sim  # type: ignore[no-any-return]


def create_simulator_app(config: SimulatorConfig | None = None) -> Litestar:
    """A fresh simulator; its state lives in ``app.state.sim``."""
    install_log_filter()
    api = Router(
        path="/v1",
        route_handlers=[
            AssistantController,
            ChatController,
            ConversationController,
            EmbeddingController,
            ModelController,
            ResponseController,
            RunController,
            ThreadController,
        ],
        before_request=_admit,
    )
    return Litestar(
        route_handlers=[api, ControlController],
        dependencies={"sim": Provide(_provide_sim, sync_to_thread=False)},
        exception_handlers={
            APIError: api_error_handler,
            HTTPException: http_exception_handler,
            Exception: internal_error_handler,
        },
        state=State({"sim": SimulatorState(config or SimulatorConfig())}),
        openapi_config=None,
        logging_config=None,
    )
