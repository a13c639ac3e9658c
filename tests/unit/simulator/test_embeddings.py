from __future__ import annotations

import math

import pytest

from proxy.simulator import hash_embedding


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_unit_length_and_dimension() -> None:
    vector = hash_embedding("Hello, world!", 64)
    assert len(vector) == 64
    assert math.fsum(v * v for v in vector) == pytest.approx(1.0)
    assert len(hash_embedding("x")) == 1536


def test_deterministic_and_case_insensitive() -> None:
    assert hash_embedding("Running Shoes", 256) == hash_embedding("running shoes", 256)


def test_texts_sharing_words_are_closer() -> None:
    query = hash_embedding("waterproof hiking boots", 512)
    related = hash_embedding("boots for hiking, fully waterproof", 512)
    unrelated = hash_embedding("quarterly tax report", 512)
    assert cosine(query, related) > 0.5
    assert cosine(query, related) > cosine(query, unrelated) + 0.3


def test_empty_text_is_still_a_unit_vector() -> None:
    assert math.fsum(v * v for v in hash_embedding("", 32)) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        hash_embedding("x", 0)
