"""A search query's words: their stems, the shop's spelling of a misspelt one, and the tiers of
full-text queries (all words first, down to any one) that rank products by how many they have."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING

from psycopg import sql

from proxy.shop.query_words import Vocabulary, content_words
from proxy.shop.source import NativeShopData, ShopData

if TYPE_CHECKING:
    from proxy.store.db import Database

logger = logging.getLogger(__name__)

VOCABULARY_TTL = 60.0  # seconds a shop's word list is reused for typo correction
MAX_COMBINATIONS = 20  # word combinations in one tier's query


@dataclass(frozen=True, slots=True)
class QueryWords:
    """The query's content words and, per word, the full-text query that finds it."""

    words: list[str]
    queries: list[str]  # tsquery text per word: its lexeme, or its lexeme | the shop words it misspells
    corrections: dict[str, list[str]] = field(default_factory=dict)  # misspelt word -> the shop's words

    def text(self) -> str:
        """The words with the shop's spelling beside a misspelt one: what the vectors compare."""
        return " ".join(" ".join([w, *self.corrections.get(w, [])]) for w in self.words)

    def any_query(self) -> str:
        return " | ".join(f"({q})" for q in self.queries)


@dataclass(slots=True)
class Hit:
    id: str
    matched: list[int]  # indexes into QueryWords.words
    outside: list[str]
    rank: float = 0.0  # full-text rank
    distance: float = 0.0  # vector distance


def _tsquery_term(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


# --- ----------------------------------------------------------------------------

_lexemes: dict[str, str | None] = {}  # word -> its 'english' stem (None: a Postgres stop word)
_vocabularies: dict[str, tuple[float, Vocabulary]] = {}  # shop -> (when read, its words)
_refreshing: dict[str, asyncio.Task[Vocabulary]] = {}  # shop -> the refresh of its words under way


async def _stems(db: Database, words: list[str]) -> dict[str, str | None]:
    missing = [w for w in words if w not in _lexemes]
    if missing:
        rows = await db.fetch_all(
            "select w, (select min(lexeme) from unnest(to_tsvector('english', w))) as lexeme"
            " from unnest(%s::text[]) as w",
            (missing,),
        )
        if len(_lexemes) > 50_000:
            _lexemes.clear()
        _lexemes.update({r["w"]: r["lexeme"] for r in rows})
    return {w: _lexemes.get(w) for w in words}


async def _load_vocabulary(db: Database, data: ShopData, key: str) -> Vocabulary:
    if isinstance(data, NativeShopData):  # kept by a trigger as documents are written
        query: sql.Composed = sql.SQL("select word from shop_product_words where tenant = {}").format(
            sql.Literal(data.tenant)
        )
    else:
        query = sql.SQL("{rel} select distinct u.lexeme as word from product_text c, unnest(c.fts) u").format(
            rel=data.relations()
        )
    rows = await db.fetch_all(query)
    vocab = Vocabulary(r["word"] for r in rows)
    _vocabularies[key] = (time.monotonic(), vocab)
    return vocab


def _refreshed(key: str, task: asyncio.Task[Vocabulary]) -> None:
    if _refreshing.get(key) is task:
        del _refreshing[key]
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.warning("the shop's word list was not refreshed (the last one is kept a minute more): %s", error)
        if (cached := _vocabularies.get(key)) is not None:
            _vocabularies[key] = (time.monotonic(), cached[1])  # not a refresh per search while it fails


async def vocabulary(db: Database, data: ShopData) -> Vocabulary:
    """The shop's product words (a word added since the list was read only misses typo correction).

    Only a shop's first search waits for its list. Once the list is ``VOCABULARY_TTL`` old, a
    search still uses it and starts one refresh in the background, so no search waits on the
    reload (at 100,000 products, a reload inside a search was a latency spike a minute per worker).
    """
    key = repr(data)
    cached = _vocabularies.get(key)
    if cached is None:
        return await _load_vocabulary(db, data, key)
    loop = asyncio.get_running_loop()
    under_way = _refreshing.get(key)
    if time.monotonic() - cached[0] >= VOCABULARY_TTL and (under_way is None or under_way.get_loop() is not loop):
        task = loop.create_task(_load_vocabulary(db, data, key), name=f"words of {key}")
        _refreshing[key] = task
        task.add_done_callback(functools.partial(_refreshed, key))
    return cached[1]


async def query_words(db: Database, data: ShopData, query: str) -> QueryWords:
    """Content words with their stems; a word the shop does not have is also looked for as the
    shop's words one edit away (a typo)."""
    stems = await _stems(db, content_words(query))
    words = [w for w, lexeme in stems.items() if lexeme]
    lexemes = [stems[w] or "" for w in words]
    if not words:
        return QueryWords([], [])
    vocab = await vocabulary(db, data)
    fixes = {w: found for w, lexeme in zip(words, lexemes, strict=True) if (found := vocab.corrections(lexeme))}
    queries = [
        " | ".join(_tsquery_term(t) for t in [lx, *fixes.get(w, [])]) for w, lx in zip(words, lexemes, strict=True)
    ]
    return QueryWords(words, queries, fixes)


WORDS_CTE = sql.SQL(
    "words as (select t.i::int as i, t.q::tsquery as q from unnest(%(wq)s::text[]) with ordinality as t(q, i))"
)


def tier_groups(qw: QueryWords) -> list[tuple[int, list[str]]]:
    """(m, the full-text queries of every combination of m words), m from all words down to one;
    a tier that would need more than MAX_COMBINATIONS word combinations is skipped. A product
    with at least m of the words matches one of them."""
    k, out = len(qw.queries), []
    for m in range(k, 0, -1):
        if m not in (1, k) and math.comb(k, m) > MAX_COMBINATIONS:
            continue
        out.append((m, [" & ".join(f"({qw.queries[i]})" for i in combo) for combo in combinations(range(k), m)]))
    return out


def tiers(qw: QueryWords) -> list[tuple[int, str]]:
    """(m, one full-text query for products with at least m of the words): ``tier_groups`` joined."""
    return [(m, " | ".join(f"({g})" for g in groups)) for m, groups in tier_groups(qw)]
