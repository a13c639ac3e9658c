"""Embedders: the offline one is deterministic and lexical; the OpenAI one batches and checks."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

from proxy.shop.config import ShopConfig
from proxy.shop.embedders import (
    EmbedderCache,
    EmbeddingError,
    OfflineEmbedder,
    OpenAIEmbedder,
    embedder_from_spec,
    hash_embedding,
)


def cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_offline_vectors_are_deterministic_unit_vectors() -> None:
    a, b = hash_embedding("Espresso machine with steam wand"), hash_embedding("Espresso machine with steam wand")
    assert a == b and len(a) == 256
    assert math.isclose(math.sqrt(sum(x * x for x in a)), 1.0, rel_tol=1e-9)
    assert len(hash_embedding("", 64)) == 64


def test_offline_vectors_ignore_case_and_stay_unit_vectors_for_empty_text() -> None:
    assert hash_embedding("Running Shoes", 64) == hash_embedding("running shoes", 64)
    assert math.isclose(math.fsum(x * x for x in hash_embedding("", 32)), 1.0)
    assert len(hash_embedding("x", 1536)) == 1536
    with pytest.raises(ValueError):
        hash_embedding("x", 0)


def test_texts_sharing_words_are_much_closer_than_unrelated_ones() -> None:
    query = hash_embedding("waterproof hiking boots", 512)
    related = hash_embedding("boots for hiking, fully waterproof", 512)
    unrelated = hash_embedding("quarterly tax report", 512)
    assert cos(query, related) > 0.5
    assert cos(query, related) > cos(query, unrelated) + 0.3


def test_offline_similarity_follows_shared_words_plurals_and_typos() -> None:
    doc = hash_embedding("Ceramic coffee mug, glazed by hand")
    assert cos(hash_embedding("coffee mugs"), doc) > cos(hash_embedding("hiking boots"), doc)
    assert cos(hash_embedding("cofee mug"), doc) > cos(hash_embedding("tea kettle"), doc)


async def test_offline_embedder_names_its_space() -> None:
    embedder = OfflineEmbedder(128)
    assert embedder.name == "offline-v1:128" and embedder.dims == 128
    assert [len(v) for v in await embedder.embed(["a", "b"])] == [128, 128]
    with pytest.raises(EmbeddingError):
        OfflineEmbedder(4)


class FakeEmbeddings:
    def __init__(self, dims: int = 8, fail: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.dims, self.fail = dims, fail

    async def create(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if self.fail:
            raise RuntimeError("401 invalid key")
        data = [SimpleNamespace(index=i, embedding=[float(i)] * self.dims) for i in range(len(kwargs["input"]))]
        return SimpleNamespace(data=list(reversed(data)))  # out of order on purpose


async def test_openai_embedder_orders_results_and_learns_dims() -> None:
    fake = FakeEmbeddings(dims=8)
    embedder = OpenAIEmbedder("my-model", api_key="k", client=SimpleNamespace(embeddings=fake))
    assert embedder.dims is None and embedder.name == "openai:my-model"
    vectors = await embedder.embed(["a", "b", "c"])
    assert [v[0] for v in vectors] == [0.0, 1.0, 2.0] and embedder.dims == 8
    assert fake.calls[0]["model"] == "my-model" and "dimensions" not in fake.calls[0]


async def test_openai_embedder_passes_dimensions_and_wraps_errors() -> None:
    fake = FakeEmbeddings(fail=True)
    embedder = OpenAIEmbedder(
        "text-embedding-3-small", api_key="k", dimensions=512, client=SimpleNamespace(embeddings=fake)
    )
    assert embedder.name == "openai:text-embedding-3-small@512" and embedder.dims == 512
    with pytest.raises(EmbeddingError, match="text-embedding-3-small failed"):
        await embedder.embed(["x"])
    assert fake.calls[0]["dimensions"] == 512


def test_specs_and_the_cache() -> None:
    assert embedder_from_spec("offline:64").dims == 64
    with pytest.raises(EmbeddingError, match="API key"):
        embedder_from_spec("openai:text-embedding-3-small", api_key=None)
    cache = EmbedderCache(env={"KEY": "sk-test"})
    first = cache.get("t", ShopConfig(embedder="openai:text-embedding-3-small"), api_key_env="KEY")
    assert first is cache.get("t", ShopConfig(embedder="openai:text-embedding-3-small"), api_key_env="KEY")
    assert first.dims == 1536
