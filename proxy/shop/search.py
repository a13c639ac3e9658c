"""Product search that says how well each result matches, and when nothing does.

Only a query's content words (:mod:`proxy.shop.query_words`) decide whether a product matches:
*strong* when its text has every one of them (stems and one-letter typos tolerated), *partial*
when it has some. Products with none of them are never results. Within the price and currency
filters the word matches are ranked by how many words they have, then by reciprocal rank fusion
of the full-text ranking with the HNSW vector ranking (vectors know paraphrases and, with an
OpenAI model, meaning; fusing ranks needs no calibration between the two).

When nothing matches every word within the filters, the nearest items come back as
``alternatives``: the word matches that fail a filter (cheapest first when ``max_price`` was
exceeded), or, when no product has any of the words, the nearest vectors.

This module puts a search together; each step is a module of its own: the query's words
(:mod:`proxy.shop.search_words`), the filters (:mod:`proxy.shop.price_filters`), the one statement
that finds the results (:mod:`proxy.shop.search_statement`, its vector part
:mod:`proxy.shop.search_near`, run by :mod:`proxy.shop.search_ranked` with its tuning), the
alternatives (:mod:`proxy.shop.search_alternatives`) and the cards and note of the answer
(:mod:`proxy.shop.search_cards`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from proxy.shop.embedders import Embedder
from proxy.shop.price_filters import Filters
from proxy.shop.search_alternatives import outside_filters
from proxy.shop.search_cards import STRONG, labelled_cards, note
from proxy.shop.search_ranked import ranked
from proxy.shop.search_words import Hit, query_words
from proxy.shop.source import NativeShopData, ShopData

if TYPE_CHECKING:
    from proxy.store.db import Database

# A product with none of the query's words is offered as an alternative only when its vector is
# this close (cosine distance): unrelated products sit at 0.8 and beyond with the offline embedder
# and with OpenAI's models, the same product type well under 0.7.
MAX_NEIGHBOUR_DISTANCE = 0.75

_known_dims: dict[tuple[str, str], int] = {}  # (shop data, embedder) -> dimensions of the stored vectors


async def _dims(db: Database, data: ShopData, embedder: Embedder, key: tuple[str, str]) -> int:
    _known_dims.pop(key, None)
    dims = await data.vector_dims(db, embedder)  # raises, saying what to do, when the data is not ready
    if len(_known_dims) > 10_000:
        _known_dims.clear()
    _known_dims[key] = dims
    return dims


async def search_products(
    db: Database,
    data: ShopData,
    embedder: Embedder,
    query: str,
    *,
    currency: str | None = None,
    min_price: float | None = None,
    max_price: float | None = None,
    limit: int = 5,
    exact: bool = False,
) -> dict[str, Any]:
    """``{"filters", "products", "nothing_matches"}`` plus, when nothing matches every word,
    ``"alternatives"`` and a ``"note"`` saying so in plain words. ``exact`` compares every vector
    and reads every word match: slow, the reference the bench measures recall against."""
    f = Filters(currency.lower() if currency else None, min_price, max_price)
    # The embedding state says what to do when the data is not ready. Our own tables' state is
    # remembered, and checked again by the search statement itself: one round trip less.
    key = (repr(data), embedder.name)
    dims = _known_dims.get(key) if isinstance(data, NativeShopData) else None
    if dims is None:
        dims = await _dims(db, data, embedder, key)
    qw = await query_words(db, data, query)
    found = await ranked(db, data, embedder, qw, qw.text() or query, f, dims=dims, limit=limit, exact=exact)
    if found.stale:  # re-embedded or removed since: the state says what to do now
        dims = await _dims(db, data, embedder, key)
        found = await ranked(db, data, embedder, qw, qw.text() or query, f, dims=dims, limit=limit, exact=exact)
    hits = found.hits
    products = await labelled_cards(db, data, hits, qw, f, known=found.cards)
    strong = any(p["match"] == STRONG for p in products)
    result: dict[str, Any] = {"filters": f.given(), "products": products, "nothing_matches": not strong}
    if strong:
        return result

    alternatives: list[Hit] = []
    if f.given() and (qw.words or not products):
        listed = max((len(h.matched) for h in hits), default=0)
        alternatives = await outside_filters(
            db, data, qw, f, limit=limit, exclude=[h.id for h in hits], more_than=listed
        )
    if not alternatives and not products and qw.words:  # no product has any of the words
        alternatives = [Hit(h.id, [], []) for h in found.nearest if h.distance <= MAX_NEIGHBOUR_DISTANCE]
    result["alternatives"] = await labelled_cards(db, data, alternatives, qw, f, outside=True)
    result["note"] = note(qw, query, f, partial=bool(products), alternatives=bool(alternatives))
    return result
