"""Words: tokens, light stemming, typo-tolerant matching against the model's cue vocabulary."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import snowballstemmer
from rapidfuzz import fuzz, process

_TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?|[$€£¥]", re.UNICODE)
_VOWELS = set("aeiouyäöüéèàáíóú")
_CONSONANT_RUN = re.compile(r"[^aeiouy\d]{5,}")

# Words that carry no content for a product search: question words, fillers, politeness, the
# words of price bounds and currencies, and generic shop words.
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "from",
        "by",
        "with",
        "about",
        "as",
        "into",
        "over",
        "than",
        "then",
        "so",
        "too",
        "very",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "doing",
        "have",
        "has",
        "had",
        "having",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "i",
        "me",
        "my",
        "mine",
        "we",
        "us",
        "our",
        "ours",
        "you",
        "your",
        "yours",
        "he",
        "him",
        "his",
        "she",
        "her",
        "it",
        "its",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "whats",
        "any",
        "some",
        "something",
        "anything",
        "all",
        "each",
        "every",
        "one",
        "ones",
        "more",
        "most",
        "other",
        "such",
        "no",
        "not",
        "only",
        "own",
        "same",
        "just",
        "please",
        "pls",
        "plz",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "ok",
        "okay",
        "yes",
        "yeah",
        "well",
        "also",
        "really",
        "like",
        "maybe",
        "show",
        "tell",
        "give",
        "find",
        "get",
        "see",
        "look",
        "looking",
        "search",
        "searching",
        "need",
        "want",
        "wanted",
        "would",
        "like",
        "love",
        "let",
        "lets",
        "know",
        "got",
        "sell",
        "sells",
        "selling",
        "stock",
        "stocked",
        "carry",
        "carries",
        "offer",
        "offers",
        "available",
        "have",
        "has",
        "buy",
        "buying",
        "purchase",
        "recommend",
        "recommendation",
        "recommendations",
        "suggest",
        "suggestion",
        "under",
        "below",
        "less",
        "cheaper",
        "lower",
        "max",
        "maximum",
        "most",
        "least",
        "at",
        "up",
        "within",
        "budget",
        "over",
        "above",
        "more",
        "least",
        "min",
        "minimum",
        "between",
        "around",
        "about",
        "roughly",
        "approximately",
        "cost",
        "costs",
        "costing",
        "price",
        "prices",
        "priced",
        "pricing",
        "cheap",
        "cheapest",
        "inexpensive",
        "affordable",
        "expensive",
        "priciest",
        "pricey",
        "much",
        "many",
        "eur",
        "euro",
        "euros",
        "usd",
        "dollar",
        "dollars",
        "bucks",
        "gbp",
        "pound",
        "pounds",
        "quid",
        "chf",
        "franc",
        "francs",
        "yen",
        "jpy",
        "product",
        "products",
        "item",
        "items",
        "thing",
        "things",
        "stuff",
        "shop",
        "store",
        "catalog",
        "catalogue",
        "range",
        "options",
        "option",
        "kind",
        "kinds",
        "type",
        "types",
        "sort",
        "sorts",
        "good",
        "best",
        "nice",
        "great",
        "new",
    ]
)

_STEMMER = snowballstemmer.stemmer("english")
_IRREGULAR = {"knives": "knife", "shelves": "shelf", "people": "person", "children": "child", "men": "man"}


def tokens(text: str) -> list[str]:
    """Lower-cased words, numbers and currency signs, in order."""
    return _TOKEN.findall(text.lower().replace("’", "'"))


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """The English (Snowball) stem, irregular plurals first: ``tents`` -> ``tent``, ``knives`` -> ``knife``,
    ``commuting`` and ``commuter`` -> ``commut``."""
    word = word.lower().removesuffix("'s").removesuffix("'")
    return str(_STEMMER.stemWord(_IRREGULAR.get(word, word)))


def content_words(text: str) -> list[str]:
    """The words of ``text`` that say what is wanted (stop words and numbers left out)."""
    return [w for w in tokens(text) if w not in STOP_WORDS and not w.isdigit() and len(w) > 1 and w.isalnum()]


def cutoff(word: str) -> float:
    """How similar (rapidfuzz ratio) a word must be to count as a typo of another."""
    n = len(word)
    if n <= 4:
        return 101.0  # short words must match exactly
    return 83.0 if n <= 6 else 80.0


@lru_cache(maxsize=64)
def _vocabulary(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(words)


def canonical(words: Iterable[str], vocabulary: tuple[str, ...]) -> list[str]:
    """Each word, or the vocabulary word it is a likely typo of (``popluar`` -> ``popular``)."""
    known = _vocabulary(vocabulary)
    out = []
    for word in words:
        if word in known or len(word) <= 4 or not word.isalpha():
            out.append(word)
            continue
        match = process.extractOne(word, vocabulary, scorer=fuzz.ratio, score_cutoff=cutoff(word))
        out.append(match[0] if match else word)
    return out


def same_word(a: str, b: str) -> bool:
    """Equal, equal stems, or a small typo of each other."""
    if a == b or stem(a) == stem(b):
        return True
    sa, sb = stem(a), stem(b)
    return min(len(sa), len(sb)) > 4 and fuzz.ratio(sa, sb) >= cutoff(min(sa, sb, key=len))


def word_in(word: str, text_words: Iterable[str]) -> bool:
    return any(same_word(word, other) for other in text_words)


def looks_like_words(text: str) -> bool:
    """False for keyboard mashing ("asdfghjkl", "xzqwv"): too few tokens that could be words."""
    found = tokens(text)
    if not found:
        return False
    wordish = 0
    for word in found:
        if (
            word.isdigit()
            or word in STOP_WORDS
            or (any(c in _VOWELS for c in word) and not _CONSONANT_RUN.search(word) and len(word) <= 20)
        ):
            wordish += 1
    return wordish * 2 > len(found)
