"""Running a search's statement (:mod:`proxy.shop.search_statement`): its parameters, among them how
many products each part of it reads (the tuning below, measured in bench/README-search.md), the
session settings it runs with, and its rows read back as results, their cards and the nearest
vectors.

The tuning is read at every search, so that the bench and the tests can change it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg import AsyncRawCursor
from psycopg.rows import dict_row

from proxy.shop.embedders import Embedder
from proxy.shop.price_filters import Filters, filter_params, price_conditions
from proxy.shop.search_cards import card_of
from proxy.shop.search_sql import GENERIC, Positional, run_generic
from proxy.shop.search_statement import statement
from proxy.shop.search_words import Hit, QueryWords, tier_groups
from proxy.shop.source import ShopData, query_embedding, vector_literal

if TYPE_CHECKING:
    from proxy.store.db import Database

CANDIDATES = 100  # per branch
# How much of the HNSW graph a query walks (``hnsw.ef_search``). On 100k near-duplicate products
# the walk alone finds 0.93 of the exact top 10 at 200 and 0.95 at 400, for twice the time; the
# search as a whole loses nothing at 200, as the word matches' exact distances rank them wherever
# the walk missed them (bench/README-search.md).
EF_SEARCH = 150
# Full text reads products in tiers, all words first, at most TIER_ROWS per tier: on our own tables
# the nearest of the first TIER_SCAN it finds (the distance comes with the row the text is read
# from). A million products have hundreds with the words of "black electric toothbrush"; the
# first hundred the index gives are not the nearest, and the walk misses some of those: at a
# million products recall@10 against the exact search is 0.90 with 100, 0.94 with 400, 0.98 with
# 1000, for about 2 ms of server CPU (bench/README-search.md). Not with a price filter: the wider
# walk finds them (0.96-0.99), and reading a thousand products, each with its price looked up,
# lengthened the slowest searches (p95 45 -> 61 ms at a million products).
TIER_ROWS = 100
TIER_SCAN = 1000
# With a price filter the HNSW walk returns every product it visited (see ``search_near.near``); with fewer
# than FEW_PRICES prices in the filters every product in them is compared exactly instead. The
# walk is most of a filtered search's server CPU (1.8 ms at 150, 5.8 at 400 on 100,000 products):
# with product words it visits 250 (the word tiers read the matches it misses, with their exact
# distances: strict recall@10 within max_price 100 EUR 0.99 at 100,000 products and 0.965 at a
# million, against 1.000 and 0.970 at 400), without them, when the nearest vectors are the whole
# answer, 400 of pgvector's widest walk.
FILTERED_FETCH = 250
NEAREST_FETCH = 400
FEW_PRICES = 1000
MAX_EF_SEARCH = 1000  # pgvector's largest hnsw.ef_search
ALL_ROWS = 1_000_000_000  # "every row" as a LIMIT, for exact searches


@dataclass(slots=True)
class Ranked:
    hits: list[Hit]  # the results, best first
    cards: dict[str, dict[str, Any]]  # their product cards
    nearest: list[Hit]  # the nearest vectors within the filters, with their distances
    stale: bool = False  # the tenant's vectors changed since ``dims`` was read: nothing else is valid


@dataclass(frozen=True, slots=True)
class Prepared:
    """A search's statement with its parameters and the settings it runs with (``run_generic``)."""

    query: Positional
    params: dict[str, Any]
    settings: dict[str, str]


async def prepare(
    data: ShopData, embedder: Embedder, qw: QueryWords, text: str, f: Filters, *, dims: int, limit: int, exact: bool
) -> Prepared:
    """The statement of a search for ``qw`` (``text`` embedded) within ``f``, and how it runs."""
    vector = await query_embedding(embedder, text, dims)
    groups = tier_groups(qw) if qw.words else []
    fetch = (FILTERED_FETCH if qw.words else NEAREST_FETCH) if price_conditions(f) else CANDIDATES
    # without words the nearest vectors are the whole answer: within a price filter they come
    # from all along the walk's list, whose far end a wider walk makes exact
    ef = max(fetch, EF_SEARCH) if qw.words or not price_conditions(f) else MAX_EF_SEARCH
    params = filter_params(
        f,
        q=vector_literal(vector),
        n=ALL_ROWS if exact else fetch,
        top=CANDIDATES,
        few=FEW_PRICES,
        limit=limit,
        cap=None if exact else TIER_ROWS,
        scan=None if exact else TIER_ROWS if price_conditions(f) else TIER_SCAN,
        embedder=embedder.name,
    )
    if qw.words:
        params.update(wq=qw.queries, anyq=qw.any_query(), **{f"tq{j}": tqs for j, (_, tqs) in enumerate(groups, 1)})
    # The generic plan; sequential scans off: the word tiers must read the GIN index (a scan with
    # a LIMIT looks cheap to the planner for a common word, and reads the whole table for a rare
    # one) and the price checks the indexes.
    settings = {**GENERIC, "hnsw.ef_search": str(ef)}
    return Prepared(statement(data, f, dims, [m for m, _ in groups], exact=exact), params, settings)


async def ranked(
    db: Database,
    data: ShopData,
    embedder: Embedder,
    qw: QueryWords,
    text: str,
    f: Filters,
    *,
    dims: int,
    limit: int,
    exact: bool = False,
) -> Ranked:
    """The search's results with their cards, in one statement and one round trip (see
    ``search_statement.ranked_query``). ``exact`` compares every vector and reads every word match: slow, the
    reference the bench measures recall against."""
    run = await prepare(data, embedder, qw, text, f, dims=dims, limit=limit, exact=exact)
    async with db.connection() as conn:
        if exact:
            async with conn.transaction():
                await conn.execute("set local enable_indexscan = off")  # for the ANN query of other sources
                cur = AsyncRawCursor(conn, row_factory=dict_row)
                rows = await (await cur.execute(run.query.text, run.query.args(run.params))).fetchall()
        else:
            rows = await run_generic(conn, run.query, run.params, run.settings)
    hits, cards, nearest = [], {}, []
    for r in sorted(rows, key=lambda r: (r["kind"], r["pos"])):
        if r["kind"] == "stale":
            return Ranked([], {}, [], stale=True)
        if r["kind"] == "near":
            nearest.append(Hit(r["id"], [], [], distance=float(r["distance"])))
            continue
        hits.append(Hit(r["id"], [i - 1 for i in r["matched"]], []))
        cards[r["id"]] = card_of(r)
    return Ranked(hits, cards, nearest)
