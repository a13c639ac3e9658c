"""``/v1/models`` and the model check every model call makes.

Any model name is accepted, except names starting with ``missing``: those answer 404
``model_not_found``, which is how a wrong model name looks on the real API.
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Controller, get
from litestar.params import FromPath

from proxy.simulator.errors import APIError, missing_parameter, not_found

__all__ = ("EMBEDDING_DIMENSIONS", "MODELS", "ModelController", "check_model")

MODELS: Final = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-5-mini",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
)
EMBEDDING_DIMENSIONS: Final = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
_CREATED: Final = 1_715_367_049


def _model_not_found(model: str) -> APIError:
    return not_found(f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found")


def check_model(model: Any) -> str:
    """The ``model`` of a request, or the API's error for a missing or unknown one."""
    if not isinstance(model, str) or not model:
        raise missing_parameter("model")
    if model.startswith("missing"):
        raise _model_not_found(model)
    return model


def _model(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": _CREATED, "owned_by": "system"}


class ModelController(Controller):
    path = "/models"

    @get("/")
    async def list_models(self) -> dict[str, Any]:
        return {"object": "list", "data": [_model(model) for model in MODELS]}

    @get("/{model:str}")
    async def retrieve(self, model: FromPath[str]) -> dict[str, Any]:
        return _model(check_model(model))
