"""Which tool a message asks for: each offered tool is scored from its description and, for the
tools this project ships, from cue phrases and a few example phrasings."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from proxy.offline.intents.insight_questions import insight_question
from proxy.offline.intents.tool_cues import EXAMPLES, TOOL_CUES
from proxy.offline.intents.vocabulary import canonical_text
from proxy.offline.money import find_prices
from proxy.offline.types import ToolSpec
from proxy.offline.words import content_words, same_word, stem

THRESHOLD = 1.5
"""A tool scored below this is not what the message asks for."""


@dataclass(frozen=True, slots=True)
class Scored:
    tool: str
    score: float


@lru_cache(maxsize=512)
def _description_words(description: str) -> frozenset[str]:
    return frozenset(stem(w) for w in content_words(description))


def _overlap(message_words: Sequence[str], other_words: Sequence[str]) -> float:
    """Dice similarity of two word lists, typos tolerated."""
    if not message_words or not other_words:
        return 0.0
    hits = sum(1 for w in other_words if any(same_word(w, m) for m in message_words))
    return 2 * hits / (len(other_words) + len(message_words))


def _description_score(message_words: Sequence[str], spec: ToolSpec) -> float:
    described = _description_words(spec.description + " " + spec.name.replace("_", " "))
    if not message_words or not described:
        return 0.0
    hits = sum(1 for w in message_words if stem(w) in described)
    return hits / len(message_words)


def _property_hints(text: str, spec: ToolSpec) -> float:
    properties = spec.parameters.get("properties") if isinstance(spec.parameters, dict) else None
    if not isinstance(properties, dict):
        return 0.0
    names = " ".join(properties).lower()
    bonus = 0.0
    if "@" in text and "email" in names:
        bonus += 0.5
    if re.search(r"\bprod_\w+", text) and "product" in names:
        bonus += 1.0
    if re.search(r"\bcus_\w+", text) and "customer" in names:
        bonus += 1.0
    return bonus


def score_tools(text: str, tools: Sequence[ToolSpec]) -> list[Scored]:
    """Every offered tool with its score, best first (ties: the order offered)."""
    canon = canonical_text(text)
    words = content_words(canon)
    scored: list[Scored] = []
    for index, spec in enumerate(tools):
        cue = 0.0
        if spec.name == "shop_insights":
            cue = insight_question(text)[1]
        elif spec.name == "search_products" and find_prices(text):
            cue = 2.0  # a price bound is a product question
        for pattern, weight in TOOL_CUES.get(spec.name, ()):
            if pattern.search(canon):
                cue = max(cue, weight) + (0.25 if cue else 0.0)
        examples = EXAMPLES.get(spec.name, ())
        example = max((_overlap(words, content_words(e)) for e in examples), default=0.0)
        known = spec.name in TOOL_CUES
        description = _description_score(words, spec) * (0.5 if known else 2.0)
        score = cue + 0.5 * example + description + _property_hints(text, spec) - index * 1e-6
        scored.append(Scored(spec.name, score))
    return sorted(scored, key=lambda s: -s.score)
