"""What a question names in plain lower-case words, found as what is left once the question's own
words are gone: a product ("what goes with the two-person tent"), a person ("what orders did oscar
jansen place")."""

from __future__ import annotations

import re

from rapidfuzz import fuzz

from proxy.offline.intents import canonical_text
from proxy.offline.slots import Slots, product_query
from proxy.offline.words import STOP_WORDS

# The words of an insight question about a product, never the product's own.
_INSIGHT_WORDS = frozenset(
    [
        "together",
        "bought",
        "buy",
        "buying",
        "purchased",
        "ordered",
        "often",
        "frequently",
        "commonly",
        "usually",
        "people",
        "customers",
        "go",
        "goes",
        "along",
        "alongside",
        "combination",
        "combinations",
        "pair",
        "pairs",
        "paired",
        "companion",
        "companions",
        "cross",
        "sell",
        "with",
        "second",
        "first",
        "next",
        "after",
        "then",
        "product",
        "products",
        "item",
        "items",
        "common",
        "popular",
        "order",
        "orders",
        "purchase",
        "purchases",
        "buys",
        "customer",
        "their",
        "what",
        "else",
        "also",
        "well",
        "get",
        "gets",
    ]
)


def product_words_of(text: str) -> list[str]:
    """The product named in an insight question ("what goes with the two-person tent"), typos of its
    other words corrected first ("wich products are bougth together" names none)."""
    words = product_query(canonical_text(text)).split()
    return [
        w
        for w in words
        if w not in _INSIGHT_WORDS and not any(fuzz.ratio(w, s) >= 85 for s in STOP_WORDS if len(w) >= 4)
    ]


_FIRST_PERSON = re.compile(r"\b(?:i|me|my|mine|i'm|im|i've|myself)\b", re.I)
_NOT_A_NAME = frozenset(
    [
        "order",
        "orders",
        "ordered",
        "place",
        "placed",
        "made",
        "make",
        "buy",
        "bought",
        "purchase",
        "purchases",
        "purchased",
        "customer",
        "customers",
        "client",
        "clients",
        "account",
        "accounts",
        "record",
        "records",
        "find",
        "look",
        "lookup",
        "search",
        "details",
        "detail",
        "info",
        "show",
        "list",
        "history",
        "invoices",
        "invoice",
        "last",
        "latest",
        "recent",
        "anything",
        "something",
        "everything",
        "ever",
        "get",
        "got",
        "has",
        "have",
        "had",
        "spent",
        "spend",
    ]
)


def loose_name(slots: Slots) -> str | None:
    """A name written in lower case ("what orders did oscar jansen place"): the words left once the
    question's own words are gone, when they are one to three plain words. Never for "my"/"I"."""
    if _FIRST_PERSON.search(slots.text):
        return None
    words = [w for w in slots.query.split() if w not in _NOT_A_NAME and w.isalpha()]
    if not 1 <= len(words) <= 3:
        return None
    return " ".join(w.capitalize() for w in words)
