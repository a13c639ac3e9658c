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

This module builds and runs the one statement of a search and writes the answer; the query's
words are :mod:`proxy.shop.search_words`, the filters :mod:`proxy.shop.price_filters`, the
alternatives :mod:`proxy.shop.search_alternatives`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg import AsyncRawCursor, sql
from psycopg.rows import dict_row

from proxy.shop.embedders import Embedder
from proxy.shop.money import fmt
from proxy.shop.price_filters import Filters, filter_params, price_conditions, product_filter
from proxy.shop.search_alternatives import outside_filters
from proxy.shop.search_sql import GENERIC, Positional, positional, run_generic
from proxy.shop.search_words import WORDS_CTE, Hit, QueryWords, query_words, tiers
from proxy.shop.source import NativeShopData, ShopData, query_embedding, vector_literal

if TYPE_CHECKING:
    from proxy.store.db import Database

RRF_K = 60
CANDIDATES = 100  # per branch
# How much of the HNSW graph a query walks (``hnsw.ef_search``). On 100k near-duplicate products
# the walk alone finds 0.93 of the exact top 10 at 200 and 0.95 at 400, for twice the time; the
# search as a whole loses nothing at 200, as the word matches' exact distances rank them wherever
# the walk missed them (bench/README-search.md).
EF_SEARCH = 150
# A product with none of the query's words is offered as an alternative only when its vector is
# this close (cosine distance): unrelated products sit at 0.8 and beyond with the offline embedder
# and with OpenAI's models, the same product type well under 0.7.
MAX_NEIGHBOUR_DISTANCE = 0.75
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
# With a price filter the HNSW walk returns every product it visited (see ``_near``); with fewer
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
STRONG, PARTIAL, NONE = "strong", "partial", "none"


def fuse(*rankings: list[str], k: int = RRF_K) -> list[tuple[str, float]]:
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, rid in enumerate(ranking):
            scores[rid] = scores.get(rid, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


# --- candidates ---------------------------------------------------------------------------------


def _near(data: ShopData, f: Filters, dims: int, *, exact: bool) -> tuple[sql.Composable, bool]:
    """CTEs ending in ``near(id, distance[, fts])``: the %(top)s products nearest to the query
    vector %(q)s within the filters, and whether ``near`` carries the product's text (our own
    tables: it is read with the vector, so the query's words are checked without a second lookup).

    pgvector 0.6 has no iterative index scans: a filter applies after the HNSW walk, which returns
    at most ``hnsw.ef_search`` products. So with a price filter the walk returns all it visited
    (%(n)s = FILTERED_FETCH, or NEAREST_FETCH without product words); the nearest of those within
    the filter are the nearest within the filter (about 40 and 64 when a sixth of the products
    pass; with product words the tiers add the word matches the walk missed). When few prices lie
    within the filters (fewer than %(few)s, a bounded count from the price indexes), or when fewer
    than %(limit)s products remain after the walk, the products within the filters are compared
    exactly instead: complete, and faster than the walk for a selective filter. Each strategy
    runs only when its condition, evaluated once per statement, holds. ``exact`` compares every
    vector within the filters (the reference for recall)."""
    if not isinstance(data, NativeShopData):
        near = sql.SQL(
            "ann as ({ann}), near as (select c.id, min(c.distance) as distance from ann c where {flt} group by c.id"
            " order by 2, 1 limit %(top)s)"
        ).format(ann=data.ann_query(dims), flt=product_filter("c", f))
        return near, False
    vec = sql.SQL("vector({})").format(sql.Literal(dims))
    distance = sql.SQL("d.embedding::{v} <=> %(q)s::{v}").format(v=vec)
    doc = sql.SQL(
        "select d.record_id as id, {distance} as distance, d.fts from shop_documents d where d.tenant = {t}"
        " and d.kind = 'product' and d.dims = {dims}"
    ).format(distance=distance, t=sql.Literal(data.tenant), dims=sql.Literal(dims))

    def exhaustive(cond: sql.Composable, gate: sql.Composable) -> sql.Composable:
        # every product within ``cond`` compared exactly: the fence (offset 0) keeps the HNSW
        # index, which would return only the first ef_search products, out of the plan
        return sql.SQL(
            "select x.* from ({doc} and {cond} offset 0) x where {gate} order by x.distance, x.id limit %(top)s"
        ).format(doc=doc, cond=cond, gate=gate)

    if exact:
        return sql.SQL("near as ({})").format(exhaustive(product_filter("d", f, "record_id"), sql.SQL("true"))), True
    # the walk: ORDER BY must be the indexed expression itself for the HNSW index to serve it
    walk = sql.SQL("select c.* from ({doc} order by {distance} limit %(n)s) c where {flt}").format(
        doc=doc, distance=distance, flt=product_filter("c", f, per_row=True)
    )
    price = price_conditions(f)
    if not price:
        return sql.SQL("near as ({} order by c.distance, c.id limit %(top)s)").format(walk), True
    return (
        sql.SQL(
            "sel as (select count(*) >= %(few)s as many from (select 1 from prices pr where pr.active and"
            " pr.unit_amount is not null and {price} limit %(few)s) z),"
            " walked as ({walk} and (select many from sel)),"
            " compared as ({exhaustive}),"
            " near as (select * from (select distinct on (u.id) u.* from (select * from walked union all select *"
            " from compared) u order by u.id, u.distance) v order by v.distance, v.id limit %(top)s)"
        ).format(
            price=sql.SQL(" and ").join(price),
            walk=walk,
            exhaustive=exhaustive(
                product_filter("d", f, "record_id", per_row=True, prices_per_row=False),
                sql.SQL("(not (select many from sel) or (select count(*) from walked) < %(limit)s)"),
            ),
        ),
        True,
    )


_CARD = sql.SQL(
    "p.name, p.category, p.description, (select json_agg(json_build_object('c', pr.currency, 'a', pr.unit_amount,"
    " 'r', pr.recurring) order by pr.currency, pr.unit_amount) from prices pr where pr.product_id = p.id and"
    " pr.active and pr.unit_amount is not null and (%(currency)s::text is null or pr.currency = %(currency)s))"
    " as prices"
)


def _ranked_query(data: ShopData, f: Filters, dims: int, levels: list[int], *, exact: bool) -> sql.Composed:
    """One statement for a whole search: rows ``('hit', id, matched, pos, card columns)`` for the
    top %(limit)s results, best first, and ``('near', id, distance)`` for the %(limit)s nearest
    vectors within the filters (the neighbours offered when no product has any of the words).

    ``near``: the %(top)s nearest vectors within the filters, with the query's words each has.
    Then the word tiers (``levels``: at least m words, m from all down to one, full-text queries
    %(tq1)s, %(tq2)s, ...): each keeps at most %(cap)s products not yet seen, read through the GIN
    index (on our own tables the nearest of the first %(scan)s), and only while fewer than
    %(limit)s products have as many words as it asks for (a condition evaluated once, before the
    tier's scan, so unneeded tiers read nothing). Results are ordered by how many words they
    have, then by reciprocal rank fusion of the word ranking (words, full-text rank, distance)
    with the vector ranking."""
    near, has_text = _near(data, f, dims, exact=exact)
    ctes: list[sql.Composable] = [near]
    by_distance = sql.SQL("vr as (select id, distance, row_number() over (order by distance, id) as r from near)")
    if not levels:
        ctes += [by_distance, sql.SQL("top as (select id, '{}'::int[] as matched, r as pos from vr)")]
        return _final(data, ctes, dims)
    ctes.insert(0, WORDS_CTE)
    if has_text:
        # our own tables: the text (and the vector) is in the row already read
        ctes.append(
            sql.SQL(
                "h0 as (select n.id, array(select w.i from words w where n.fts @@ w.q order by w.i) as matched,"
                " ts_rank_cd(n.fts, %(anyq)s::tsquery) as rank, n.distance from near n)"
            )
        )
        vec = sql.SQL("vector({})").format(sql.Literal(dims))
        source: sql.Composable = sql.SQL(
            "(select d.record_id as id, d.fts, d.embedding::{v} <=> %(q)s::{v} as distance from shop_documents d"
            " where d.tenant = {t} and d.kind = 'product' and d.dims = {dims})"
        ).format(v=vec, t=sql.Literal(data.tenant), dims=sql.Literal(dims))
    else:  # a product may have several texts (chunks): it has the words of all
        ctes.append(
            sql.SQL(
                "h0 as (select n.id, coalesce((select array_agg(distinct w.i order by w.i) from product_text t join"
                " words w on t.fts @@ w.q where t.id = n.id), '{}') as matched, (select"
                " coalesce(max(ts_rank_cd(t.fts, %(anyq)s::tsquery)), 0) from product_text t where t.id = n.id) as"
                " rank, n.distance from near n)"
            )
        )
        source = sql.SQL("(select t.id, t.fts, null::float8 as distance from product_text t)")
    # Our own tables have one row per product: each product is in one row of the tiers, with its
    # words in order. A product's texts elsewhere (chunks) may be in several, to be merged.
    found = (
        "select count(*) from {prev} s where cardinality(s.matched) >= {m}"
        if has_text
        else "select count(*) from (select s.id from {prev} s, unnest(s.matched) x group by s.id"
        " having count(distinct x) >= {m}) z"
    )
    for j, m in enumerate(levels, 1):
        prev = sql.Identifier(f"h{j - 1}")
        ctes.append(
            sql.SQL(
                "{t} as (select c.id, array(select w.i from words w where c.fts @@ w.q order by w.i) as matched,"
                " ts_rank_cd(c.fts, %(anyq)s::tsquery) as rank, c.distance from (select c.id, c.fts, c.distance"
                " from {source} c where ({found}) < %(limit)s and c.fts @@ {tq}::tsquery and {flt} and not exists"
                " (select 1 from {prev} s where s.id = c.id) limit {scan}) c {nearest} limit %(cap)s),"
                " {h} as (select * from {prev} union all select * from {t})"
            ).format(
                t=sql.Identifier(f"t{j}"),
                h=sql.Identifier(f"h{j}"),
                prev=prev,
                source=source,
                found=sql.SQL(found).format(prev=prev, m=sql.Literal(m)),
                scan=sql.SQL("%(scan)s" if has_text else "%(cap)s"),
                nearest=sql.SQL("order by c.distance, c.id" if has_text else ""),
                tq=sql.Placeholder(f"tq{j}"),
                flt=product_filter("c", f),
            )
        )
    last = sql.Identifier(f"h{len(levels)}")
    if has_text:
        ctes.append(sql.SQL("hits as (select id, rank, distance, matched from {last})").format(last=last))
    else:
        ctes.append(
            sql.SQL(
                "hits as (select h.id, max(h.rank) as rank, min(h.distance) as distance, coalesce(array_agg(distinct x"
                " order by x) filter (where x is not null), '{{}}') as matched from {last} h left join lateral"
                " unnest(h.matched) x on true group by h.id)"
            ).format(last=last)
        )
    if has_text:
        # The vector ranking: the walk's products, and the word matches as near as they are (their
        # distances are exact): a product the walk missed still gets the rank its distance gives.
        ctes.append(
            sql.SQL(
                "vr as (select id, distance, row_number() over (order by distance, id) as r from (select id, distance"
                " from near union select id, distance from hits where distance is not null)"
                " u order by distance, id limit %(top)s)"
            )
        )
    else:
        ctes.append(by_distance)
    ctes.append(
        sql.SQL(
            "wr as (select id, matched, row_number() over (order by cardinality(matched) desc, rank desc,"
            ' distance nulls last, id collate "C") as r from hits where cardinality(matched) > 0),'
            " top as (select w.id, w.matched, row_number() over (order by cardinality(w.matched) desc,"
            ' coalesce(1.0::float8 / (60 + v.r), 0) + 1.0::float8 / (60 + w.r) desc, w.id collate "C") as pos'
            " from wr w left join vr v on v.id = w.id)"
        )
    )
    return _final(data, ctes, dims)


def _final(data: ShopData, ctes: list[sql.Composable], dims: int) -> sql.Composed:
    state: sql.Composable = sql.SQL("")
    if isinstance(data, NativeShopData):  # a row saying the vectors are no longer those the query was made for
        state = sql.SQL(
            " union all select 'stale', null, null, 0, null, null, null, null, null where not exists (select 1"
            " from shop_embedding_state where tenant = {t} and embedder = %(embedder)s and dims = {dims})"
        ).format(t=sql.Literal(data.tenant), dims=sql.Literal(dims))
    return sql.SQL(
        "{rel}, {ctes} select 'hit' as kind, t.id, t.matched, t.pos, null::float8 as distance, {card}"
        " from top t join products p on p.id = t.id where t.pos <= %(limit)s"
        " union all (select 'near', n.id, null, row_number() over (order by n.distance, n.id), n.distance, null, null,"
        " null, null from near n order by n.distance, n.id limit %(limit)s){state}"
    ).format(rel=data.relations(), ctes=sql.SQL(", ").join(ctes), card=_CARD, state=state)


_statements: dict[tuple[Any, ...], Positional] = {}


def _statement(data: ShopData, f: Filters, dims: int, levels: list[int], *, exact: bool) -> Positional:
    """``_ranked_query`` as text with positional parameters, kept per shape: composing and
    converting it costs more than running it takes on the client (``search_sql``)."""
    shape = (f.currency is not None, f.min_price is not None, f.max_price is not None)
    key = (type(data), repr(data), shape, dims, tuple(levels), exact)
    text = _statements.get(key)
    if text is None:
        if len(_statements) > 1000:
            _statements.clear()
        text = _statements[key] = positional(_ranked_query(data, f, dims, levels, exact=exact).as_string(None))
    return text


@dataclass(slots=True)
class Ranked:
    hits: list[Hit]  # the results, best first
    cards: dict[str, dict[str, Any]]  # their product cards
    nearest: list[Hit]  # the nearest vectors within the filters, with their distances
    stale: bool = False  # the tenant's vectors changed since ``dims`` was read: nothing else is valid


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
    ``_ranked_query``). ``exact`` compares every vector and reads every word match: slow, the
    reference the bench measures recall against."""
    vector = await query_embedding(embedder, text, dims)
    levels = [m for m, _ in tiers(qw)] if qw.words else []
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
        params.update(wq=qw.queries, anyq=qw.any_query(), **{f"tq{j}": tq for j, (_, tq) in enumerate(tiers(qw), 1)})
    query = _statement(data, f, dims, levels, exact=exact)
    async with db.connection() as conn:
        if exact:
            async with conn.transaction():
                await conn.execute("set local enable_indexscan = off")  # for the ANN query of other sources
                cur = AsyncRawCursor(conn, row_factory=dict_row)
                rows = await (await cur.execute(query.text, query.args(params))).fetchall()
        else:
            # One round trip, the generic plan; sequential scans off: the word tiers must read the
            # GIN index (a scan with a LIMIT looks cheap to the planner for a common word, and
            # reads the whole table for a rare one) and the price checks the indexes.
            rows = await run_generic(conn, query, params, {**GENERIC, "hnsw.ef_search": str(ef)})
    hits, cards, nearest = [], {}, []
    for r in sorted(rows, key=lambda r: (r["kind"], r["pos"])):
        if r["kind"] == "stale":
            return Ranked([], {}, [], stale=True)
        if r["kind"] == "near":
            nearest.append(Hit(r["id"], [], [], distance=float(r["distance"])))
            continue
        hits.append(Hit(r["id"], [i - 1 for i in r["matched"]], []))
        cards[r["id"]] = _card(r)
    return Ranked(hits, cards, nearest)


# --- cards and the answer -----------------------------------------------------------------------


async def product_cards(
    db: Database, data: ShopData, ids: list[str], *, currency: str | None = None, full: bool = False
) -> list[dict[str, Any]]:
    """Compact product records, in the order of ``ids``."""
    if not ids:
        return []
    query = sql.SQL("{rel} select p.id, p.active, {card} from products p where p.id = any(%(ids)s)").format(
        rel=data.relations(), card=_CARD
    )
    rows = await db.fetch_all(query, {"ids": ids, "currency": currency.lower() if currency else None})
    by_id = {row["id"]: _card(row, full=full) for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def _card(row: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    """A product card from the columns of ``_CARD`` (and, when ``full``, ``active``)."""
    description = row["description"] or ""
    card: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "category": row["category"],
        "prices": [(fmt(p["a"], p["c"]) or "") + (f"/{p['r']}" if p["r"] else "") for p in row["prices"] or []],
        "description": description if full or len(description) <= 140 else description[:137] + "...",
    }
    if full:
        card["active"] = row["active"]
    return {k: v for k, v in card.items() if v not in (None, "")}


async def _cards(
    db: Database,
    data: ShopData,
    hits: list[Hit],
    qw: QueryWords,
    f: Filters,
    *,
    outside: bool = False,
    known: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Cards with how each matches (and, for alternatives, the filters each fails); a product
    outside the currency shows all its prices. ``known``: cards already read."""
    cards = dict(known or {})
    other = {h.id for h in hits if "currency" in h.outside}
    same = [h.id for h in hits if h.id not in other and h.id not in cards]
    cards.update({c["id"]: c for c in await product_cards(db, data, same, currency=f.currency)})
    cards.update({c["id"]: c for c in await product_cards(db, data, sorted(other))})
    out = []
    for hit in hits:
        if hit.id not in cards:
            continue
        card = dict(cards[hit.id])
        if not qw.words:
            card["match"] = STRONG
        elif not hit.matched:
            card["match"] = NONE
        else:
            card["match"] = STRONG if len(hit.matched) == len(qw.words) else PARTIAL
        card["matched_words"] = [qw.words[i] for i in hit.matched]
        if outside:
            card["outside_filters"] = hit.outside
        out.append(card)
    return out


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
    products = await _cards(db, data, hits, qw, f, known=found.cards)
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
    result["alternatives"] = await _cards(db, data, alternatives, qw, f, outside=True)
    result["note"] = _note(qw, query, f, partial=bool(products), alternatives=bool(alternatives))
    return result


def _note(qw: QueryWords, query: str, f: Filters, *, partial: bool, alternatives: bool) -> str:
    what = '"' + (" ".join(qw.words) or query.strip()) + '"'
    if partial:
        note = (
            f"No product matches all of {what}{f.phrase()}; the products listed match only some of the words"
            " (see matched_words)."
        )
        return note + (" Other close items are listed under alternatives." if alternatives else "")
    if alternatives:
        return f"No product matches {what}{f.phrase()}. The closest are listed under alternatives."
    return f"No product matches {what}{f.phrase()}, and nothing close was found."
