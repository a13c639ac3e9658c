"""``POST /v1/embeddings``: vectors from :func:`proxy.shop.embedders.hash_embedding`, the product's
offline embedder, so texts that share words (or word pieces) get a positive cosine similarity and
unrelated texts land near zero, deterministically and without a model.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from litestar import Controller, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from proxy.shop.embedders import hash_embedding
from proxy.simulator.errors import invalid_request, missing_parameter
from proxy.simulator.models import EMBEDDING_DIMENSIONS, check_model

__all__ = ("DEFAULT_DIMENSIONS", "EmbeddingController")

DEFAULT_DIMENSIONS = 1536


def _texts(raw: Any) -> list[str]:
    """Strings as they are; token arrays (as the API also accepts) as their numbers."""
    if raw is None:
        raise missing_parameter("input")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise invalid_request("'$.input' is invalid. Expected a string or a non-empty array.", param="input")
    if all(isinstance(token, int) for token in raw):
        raw = [raw]
    texts: list[str] = []
    for item in raw:
        if isinstance(item, list) and all(isinstance(token, int) for token in item):
            item = " ".join(map(str, item))
        if not isinstance(item, str) or not item:
            raise invalid_request("'$.input' is invalid. Strings must not be empty.", param="input")
        texts.append(item)
    return texts


def _dimensions(model: str, requested: Any) -> int:
    native = EMBEDDING_DIMENSIONS.get(model, DEFAULT_DIMENSIONS)
    if requested is None:
        return native
    if model == "text-embedding-ada-002":
        raise invalid_request("This model does not support specifying dimensions.", param="dimensions")
    if not isinstance(requested, int) or not 1 <= requested <= native:
        raise invalid_request(f"Invalid 'dimensions': expected an integer between 1 and {native}.", param="dimensions")
    return requested


class EmbeddingController(Controller):
    path = "/embeddings"

    @post("/", status_code=HTTP_200_OK)
    async def create(self, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        model = check_model(data.get("model"))
        texts = _texts(data.get("input"))
        dim = _dimensions(model, data.get("dimensions"))
        encoding = data.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise invalid_request(
                f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.",
                param="encoding_format",
                code="invalid_value",
            )
        rows: list[dict[str, Any]] = []
        for index, text in enumerate(texts):
            vector: Any = hash_embedding(text, dim)
            if encoding == "base64":  # little-endian float32, as the SDK decodes it
                vector = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
            rows.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(len(text.split()) for text in texts)
        return {
            "object": "list",
            "data": rows,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
