"""Embedders: the tenant's OpenAI embedding model in production, a hashed one offline.

An embedder's ``name`` identifies its vector space: vectors made by different names are never
compared. The offline embedder needs no download, is deterministic, and is good at lexical and
typo-tolerant matching (words, word pairs and character trigrams hashed into a fixed dimension);
it knows no synonyms.
"""

from __future__ import annotations

import math
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Protocol

from proxy.errors import ProxyError

if TYPE_CHECKING:
    from proxy.shop.config import ShopConfig
    from proxy.tenants import Tenant, TenantDirectory

_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)
OFFLINE_DIMENSIONS = 256  # the offline embedder's default vector size


class EmbeddingError(ProxyError):
    """Embeddings could not be made or do not fit together; the message says what to do."""

    code = "embedding_failed"


class Embedder(Protocol):
    name: str
    dims: int | None  # None until an API model has answered once
    batch_size: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def _stem(word: str) -> str:
    """A light plural stripper, so that 'mugs' and 'mug' share features."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _bucket(feature: str, dims: int) -> tuple[int, float]:
    h = zlib.crc32(feature.encode())
    return h % dims, (1.0 if (h >> 20) & 1 else -1.0)


@lru_cache(maxsize=200_000)
def _word_features(word: str, dims: int) -> tuple[tuple[int, float], ...]:
    stem = _stem(word)
    idx, sign = _bucket("w:" + stem, dims)
    feats = [(idx, sign * 1.0)]
    padded = f"<{stem}>"
    if len(padded) > 3 and not stem.isdigit():  # numbers match exactly or not at all
        weight = 0.5 / math.sqrt(len(padded) - 2)  # trigrams together weigh about half a word
        for i in range(len(padded) - 2):
            t_idx, t_sign = _bucket("t:" + padded[i : i + 3], dims)
            feats.append((t_idx, t_sign * weight))
    return tuple(feats)


@lru_cache(maxsize=200_000)
def _pair_feature(first: str, second: str, dims: int) -> tuple[int, float]:
    idx, sign = _bucket(f"b:{_stem(first)} {_stem(second)}", dims)
    return idx, 0.5 * sign


def hash_embedding(text: str, dims: int = OFFLINE_DIMENSIONS) -> list[float]:
    """A unit vector of hashed word, word-pair and character-trigram features; the same text always
    gives the same vector. The one hashed embedding of the project: the offline embedder stores
    these vectors (as ``offline-v1``), so a change here must come with a new embedder name, and the
    simulator's ``/v1/embeddings`` answers with them."""
    if dims < 1:
        raise ValueError("dims must be positive")
    vec = [0.0] * dims
    words = _WORD_RE.findall(text.lower())
    for word in words:
        for idx, value in _word_features(word, dims):
            vec[idx] += value
    for first, second in pairwise(words):
        idx, value = _pair_feature(first, second, dims)
        vec[idx] += value
    norm = math.hypot(*vec)
    if norm == 0.0:
        vec[0] = 1.0  # an empty text still gets a valid (and meaningless) direction
        return vec
    return [v / norm for v in vec]


class OfflineEmbedder:
    """Deterministic hashed embeddings: for the embedded default, the demo and the tests."""

    batch_size = 512

    def __init__(self, dims: int = OFFLINE_DIMENSIONS) -> None:
        if not 8 <= dims <= 4096:
            raise EmbeddingError(f"offline embedder dimensions must be between 8 and 4096, not {dims}")
        self.dims: int | None = dims
        self.name = f"offline-v1:{dims}"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        dims = self.dims or OFFLINE_DIMENSIONS
        return [hash_embedding(text, dims) for text in texts]


class OpenAIEmbedder:
    """``client.embeddings.create`` with the tenant's key and base URL."""

    batch_size = 256

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        base_url: str | None = None,
        dimensions: int | None = None,
        client: Any = None,
    ) -> None:
        self.model = model
        self.dimensions = dimensions
        self.name = f"openai:{model}" + (f"@{dimensions}" if dimensions else "")
        self.dims: int | None = dimensions or _KNOWN_DIMS.get(model)
        if client is None:
            import openai

            client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url)
        self._client = client

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        extra: dict[str, Any] = {"dimensions": self.dimensions} if self.dimensions else {}
        try:
            response = await self._client.embeddings.create(model=self.model, input=list(texts), **extra)
        except Exception as exc:
            raise EmbeddingError(f"the embedding model {self.model} failed: {exc}") from exc
        vectors = [list(item.embedding) for item in sorted(response.data, key=lambda item: item.index)]
        if len(vectors) != len(texts):
            raise EmbeddingError(
                f"the embedding model {self.model} returned {len(vectors)} vectors for {len(texts)} texts"
            )
        if self.dims is None and vectors:
            self.dims = len(vectors[0])
        return vectors


_KNOWN_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


def embedder_from_spec(spec: str, *, api_key: str | None = None, base_url: str | None = None) -> Embedder:
    """``offline``, ``offline:<dims>``, ``openai:<model>`` or ``openai:<model>@<dims>``."""
    kind, _, rest = spec.partition(":")
    if kind == "offline":
        return OfflineEmbedder(int(rest) if rest else OFFLINE_DIMENSIONS)
    if kind == "openai" and rest:
        model, _, dims = rest.partition("@")
        if not api_key:
            raise EmbeddingError(f"embedder {spec!r} needs the tenant's OpenAI API key (api_key_env)")
        return OpenAIEmbedder(model, api_key=api_key, base_url=base_url, dimensions=int(dims) if dims else None)
    raise EmbeddingError(f"unknown embedder {spec!r}: use 'offline' or 'openai:<model>'")


class EmbedderCache:
    """One embedder per tenant, resolved with the tenant's key (from the directory, else the env).

    The app puts one in ``ToolContext.services.embedders``; without it the tools make
    their own, reading the key from the tenant's ``api_key_env``.
    """

    def __init__(self, tenants: TenantDirectory | None = None, env: Mapping[str, str] | None = None) -> None:
        self._tenants = tenants
        self._env = env
        self._cache: dict[tuple[str, str], Embedder] = {}

    def get(
        self, tenant: str, shop: ShopConfig, *, api_key_env: str | None = None, base_url: str | None = None
    ) -> Embedder:
        key = (tenant, shop.embedder)
        if key not in self._cache:
            resolved: Tenant | None = self._tenants.get(tenant) if self._tenants is not None else None
            if resolved is not None:
                api_key, url = resolved.api_key, resolved.base_url
            else:
                env = os.environ if self._env is None else self._env
                api_key = env.get(api_key_env) if api_key_env else None
                url = base_url or env.get("OPENAI_BASE_URL")
            self._cache[key] = embedder_from_spec(shop.embedder, api_key=api_key, base_url=url)
        return self._cache[key]


default_embedders = EmbedderCache()
