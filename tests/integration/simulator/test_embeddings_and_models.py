"""Embeddings (as the SDK requests them: base64 unless told otherwise) and the model list."""

from __future__ import annotations

import math

import openai
import pytest

from proxy.shop.embedders import hash_embedding

pytestmark = pytest.mark.integration


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


async def test_default_request_is_base64_and_decodes_to_the_hash_embedding(client: openai.AsyncOpenAI) -> None:
    texts = ["red running shoes", "running shoes in red", "tax return deadline"]
    result = await client.embeddings.create(model="text-embedding-3-small", input=texts)

    vectors = [row.embedding for row in result.data]
    assert [len(v) for v in vectors] == [1536] * 3
    assert [row.index for row in result.data] == [0, 1, 2]
    assert vectors[0] == pytest.approx(hash_embedding(texts[0], 1536), abs=1e-6)  # float32 on the wire
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert result.usage.prompt_tokens == 10


async def test_float_format_and_dimensions(client: openai.AsyncOpenAI) -> None:
    result = await client.embeddings.create(
        model="text-embedding-3-large", input="hello", encoding_format="float", dimensions=256
    )
    assert result.data[0].embedding == hash_embedding("hello", 256)
    assert (await client.embeddings.create(model="text-embedding-3-large", input="hello")).data[0].embedding
    large = await client.embeddings.create(model="text-embedding-3-large", input="hello", encoding_format="float")
    assert len(large.data[0].embedding) == 3072

    with pytest.raises(openai.BadRequestError):
        await client.embeddings.create(model="text-embedding-ada-002", input="hello", dimensions=8)
    with pytest.raises(openai.BadRequestError):
        await client.embeddings.create(model="text-embedding-3-small", input="")


async def test_models(client: openai.AsyncOpenAI) -> None:
    models = [model.id async for model in client.models.list()]
    assert "gpt-4o-mini" in models and "text-embedding-3-small" in models
    assert (await client.models.retrieve("gpt-4o")).owned_by == "system"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("missing-model")
