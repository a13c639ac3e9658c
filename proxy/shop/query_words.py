"""What a product search is about: the content words of a visitor's query, and the shop's own
words a misspelt one probably meant.

A query may be a whole sentence ("do you have wireless headphones under $100?") or just product
words; either way only the product words decide whether a product matches. Price bounds and
currencies belong in the search's filters, so numbers, prices and currency words are dropped too.
Stems are left to Postgres's ``english`` configuration (the one the product text is indexed with);
typos are corrected against the shop's vocabulary by edit distance.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

_TOKEN_RE = re.compile(r"[^\W_]+", re.UNICODE)
_HAS_DIGIT = re.compile(r"\d")

# Words that never name a product: function words, question words, the ways people ask for
# something and the words around prices. Postgres drops its own stop words as well; this list
# adds what its list keeps ("something", "cheap", "looking", ...).
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any anyone anything are around as at available
    be because been before being below best better between both but buy buying by
    can cannot could cost costs costing
    did do does doing done down during
    each either else enough especially even ever every everything exactly
    few find for from
    get gets getting give go good great
    had has have having he her here hers him his how however
    i if in inside into is it its itself
    just
    kind kinds know
    least less let like likes look looking lot lots love
    many may maybe me might mine more most much must my myself
    near need needs new nice no nor not now
    of off offer offers ok okay on once one only or other our ours out over own
    perhaps please pls plenty
    quite
    rather really recommend recommendation recommendations
    same sell sells selling shall she should show so some someone something sort stock
    such suggest sure
    tell than thank thanks that the their them then there these they thing things this those though
    through to too top
    under until up upto us use used using
    very
    want wanted wants was we well were what whatever when where whether which while who whom whose why will
    wish with within would
    yes yet you your yours
    affordable budget cheap cheaper cheapest expensive inexpensive low lower lowest high higher highest
    max maximum min minimum price prices priced pricing range spend spending
    item items product products stuff shop store catalog catalogue category categories description
    hello hi hey sorry got don doesn isn aren didn won cant approximately roughly sale deal deals discount
    online order
    """.split()  # noqa: SIM905 (a word list reads better as text)
)

# Currency codes, names and slang: the currency is a filter, not a product word.
CURRENCY_WORDS = frozenset(
    """
    usd eur gbp chf jpy cad aud sek nok dkk pln czk huf
    dollar dollars euro euros buck bucks pound pounds quid cent cents franc francs yen
    """.split()  # noqa: SIM905 (a word list reads better as text)
)


def content_words(query: str) -> list[str]:
    """The query's product words, lowercased, in order, each once."""
    words = []
    for token in _TOKEN_RE.findall(query.lower()):
        if len(token) < 2 or _HAS_DIGIT.search(token) or token in STOP_WORDS or token in CURRENCY_WORDS:
            continue
        words.append(token)
    return list(dict.fromkeys(words))


def within_one_edit(a: str, b: str) -> bool:
    """True when ``b`` is ``a`` with at most one letter inserted, deleted, replaced, or two
    neighbours swapped (optimal string alignment distance <= 1)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


# Typo correction is tried on words this long; a three-letter word is only corrected by a missing
# letter ("cse" -> "case", "bak" -> "bank"): replacing one of three letters reaches too many real
# words ("mat", "hat", "map").
MIN_TYPO_LENGTH = 4
SHORT_TYPO_LENGTH = 3


class Vocabulary:
    """The distinct words (lexemes) of a shop's product texts, indexed by their one-letter
    deletions so that the words one edit away from a query word are found without a scan."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = frozenset(w for w in words if w.isalpha())
        self._by_deletion: dict[str, set[str]] = defaultdict(set)
        for word in self.words:
            if len(word) >= MIN_TYPO_LENGTH - 1:
                for variant in _deletions(word):
                    self._by_deletion[variant].add(word)

    def __contains__(self, word: object) -> bool:
        return word in self.words

    def __len__(self) -> int:
        return len(self.words)

    def corrections(self, word: str) -> list[str]:
        """Words of the shop one edit away from ``word`` (none for a known or short word)."""
        if word in self.words or len(word) < SHORT_TYPO_LENGTH or not word.isalpha():
            return []
        if len(word) < MIN_TYPO_LENGTH:  # only a letter missing
            return sorted(self._by_deletion.get(word, set()))
        found: set[str] = set()
        for variant in {word, *_deletions(word)}:
            found |= self._by_deletion.get(variant, set())
            if variant in self.words:
                found.add(variant)
        return sorted(w for w in found if len(w) >= MIN_TYPO_LENGTH - 1 and within_one_edit(word, w))


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}
