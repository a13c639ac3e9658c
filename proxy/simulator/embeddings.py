"""``POST /v1/embeddings`` and :func:`hash_embedding`, a deterministic stand-in for an embedding model.

:func:`hash_embedding` hashes a bag of lowercase words and their character trigrams into ``dim``
buckets and L2-normalises the result: texts that share words (or word pieces) get a positive cosine
similarity, unrelated texts land near zero. It is a pure function, usable without the server.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from litestar import Controller, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from proxy.simulator.errors import invalid_request, missing_parameter
from proxy.simulator.models import EMBEDDING_DIMENSIONS, check_model

__all__ = ("DEFAULT_DIMENSIONS", "EmbeddingController", "hash_embedding")

DEFAULT_DIMENSIONS = 1536
_WORD = re.compile(r"\w+")
_TRIGRAM_WEIGHT = 0.5


@lru_cache(maxsize=65536)
def _hash(feature: str) -> int:
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")


def _features(text: str) -> Iterator[tuple[str, float]]:
    for word in _WORD.findall(text.lower()):
        yield "w:" + word, 1.0
        padded = f"#{word}#"
        for start in range(len(padded) - 2):
            yield "t:" + padded[start : start + 3], _TRIGRAM_WEIGHT


def hash_embedding(text: str, dim: int = DEFAULT_DIMENSIONS) -> list[float]:
    """A unit vector of ``dim`` floats for ``text``; the same text always gives the same vector."""
    if dim < 1:
        raise ValueError("dim must be positive")
    vector = [0.0] * dim
    for feature, weight in _features(text):
        hashed = _hash(feature)
        vector[hashed % dim] += weight if hashed >> 63 else -weight
    norm = math.sqrt(sum(value * value for value in vector))
    if norm == 0.0:  # no words at all: still a unit vector, the same for every empty text
        vector[_hash("") % dim] = 1.0
        return vector
    return [value / norm for value in vector]


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
