"""The one statement of a search: the nearest vectors within the filters (:mod:`proxy.shop.search_near`),
the products with the query's words read in tiers, both rankings fused, and the results' cards, so
that a search is one round trip.

Composing a statement and converting it to positional parameters costs more than running it takes
on the client, so each shape (source, filters given, dimensions, word tiers) is composed once
(``statement``). Everything that varies within a shape is a parameter: the query's vector and
words, and how many products each part reads (:mod:`proxy.shop.search_ranked`).
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from proxy.shop.price_filters import Filters, product_filter
from proxy.shop.search_cards import CARD
from proxy.shop.search_near import near as near_cte
from proxy.shop.search_sql import Positional, positional
from proxy.shop.search_words import WORDS_CTE
from proxy.shop.source import NativeShopData, ShopData

RRF_K = 60  # the fusion's constant: the statement's "60 + rank"


def fuse(*rankings: list[str], k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal rank fusion of ``rankings``, best first: what the statement computes, in Python."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, rid in enumerate(ranking):
            scores[rid] = scores.get(rid, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def ranked_query(data: ShopData, f: Filters, dims: int, levels: list[int], *, exact: bool) -> sql.Composed:
    """One statement for a whole search: rows ``('hit', id, matched, pos, card columns)`` for the
    top %(limit)s results, best first, and ``('near', id, distance)`` for the %(limit)s nearest
    vectors within the filters (the neighbours offered when no product has any of the words).

    ``near``: the %(top)s nearest vectors within the filters, with the query's words each has.
    Then the word tiers (``levels``: at least m words, m from all down to one; %(tq1)s, %(tq2)s,
    ...: a full-text query per combination of m words, each a scan of the GIN index, where one
    query for the whole tier made the index merge every word's products): each keeps at most
    %(cap)s products not yet seen (on our own tables the nearest of the first %(scan)s), and only
    while fewer than %(limit)s products have as many words as it asks for (a condition evaluated
    once, before the tier's scan, so unneeded tiers read nothing). Results are ordered by how many words they
    have, then by reciprocal rank fusion of the word ranking (words, full-text rank, distance)
    with the vector ranking."""
    near, has_text = near_cte(data, f, dims, exact=exact)
    ctes: list[sql.Composable] = [near]
    by_distance = sql.SQL("vr as (select id, distance, row_number() over (order by distance, id) as r from near)")
    if not levels:
        ctes += [by_distance, sql.SQL("top as (select id, '{}'::int[] as matched, r as pos from vr)")]
        return _final(data, ctes, dims)
    ctes.insert(0, WORDS_CTE)
    if has_text:
        # our own tables: the text (and the vector) is in the row already read; the words and the
        # rank only for the products with one of the words (often few of the walk's)
        ctes.append(
            sql.SQL(
                "h0 as (select n.id, case when n.fts @@ %(anyq)s::tsquery then array(select w.i from words w where"
                " n.fts @@ w.q order by w.i) else '{}' end as matched, case when n.fts @@ %(anyq)s::tsquery then"
                " ts_rank_cd(n.fts, %(anyq)s::tsquery) else 0 end as rank, n.distance from near n)"
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
    # "not in" the products found so far: a hashed subplan, built once per tier. As "not exists",
    # the generic plan could join them to every product read, and did (83,300 comparisons for one
    # tier when the planner expected few products with the words).
    for j, m in enumerate(levels, 1):
        prev = sql.Identifier(f"h{j - 1}")
        ctes.append(
            sql.SQL(
                "{t} as (select c.id, array(select w.i from words w where c.fts @@ w.q order by w.i) as matched,"
                " ts_rank_cd(c.fts, %(anyq)s::tsquery) as rank, c.distance from (select c.id, c.fts, c.distance"
                " from {source} c where ({found}) < %(limit)s and c.fts @@ any({tq}::tsquery[]) and {flt} and c.id"
                " not in (select s.id from {prev} s) limit {scan}) c {nearest} limit %(cap)s),"
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
                flt=product_filter("c", f, native=has_text),
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
    ).format(rel=data.relations(), ctes=sql.SQL(", ").join(ctes), card=CARD, state=state)


_statements: dict[tuple[Any, ...], Positional] = {}


def statement(data: ShopData, f: Filters, dims: int, levels: list[int], *, exact: bool) -> Positional:
    """``ranked_query`` as text with positional parameters, kept per shape: composing and
    converting it costs more than running it takes on the client (``search_sql``)."""
    shape = (f.currency is not None, f.min_price is not None, f.max_price is not None)
    key = (type(data), repr(data), shape, dims, tuple(levels), exact)
    text = _statements.get(key)
    if text is None:
        if len(_statements) > 1000:
            _statements.clear()
        text = _statements[key] = positional(ranked_query(data, f, dims, levels, exact=exact).as_string(None))
    return text
