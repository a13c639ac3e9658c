"""Hybrid product search: HNSW vector candidates fused with Postgres full-text candidates by
reciprocal rank fusion, with price and currency filters applied to both.

Vectors find paraphrases and typos (with the offline embedder: shared words and trigrams; with
an OpenAI model: meaning); full-text finds exact words and stems. Fusing ranks rather than scores
needs no calibration between the two.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from psycopg import sql

from proxy.shop.embedders import Embedder
from proxy.shop.money import ZERO_DECIMAL, fmt
from proxy.shop.source import ShopData, query_embedding, vector_literal

if TYPE_CHECKING:
    from proxy.store.db import Database

RRF_K = 60
CANDIDATES = 100  # per branch
# How much of the HNSW graph a query walks: on 100k near-duplicate products, recall@10 is 0.86 at
# 100 and 0.96 at 400 for about 2 ms more (bench/README-search.md); it also leaves enough
# candidates after price filters.
EF_SEARCH = 400
# Full text first asks for every word (selective, fast); with fewer hits than this it asks for any
# word, which on a large catalogue can match (and rank) a good part of it.
MIN_ALL_WORDS = 10
_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)


def _filters(alias: str, *, currency: str | None, min_price: float | None, max_price: float | None) -> sql.Composable:
    """Active products with (if asked) an active price in range; prices compared in major units."""
    ident = sql.Identifier(alias)
    parts: list[sql.Composable] = [
        sql.SQL("exists (select 1 from products p where p.id = {}.id and p.active)").format(ident)
    ]
    if currency or min_price is not None or max_price is not None:
        major = sql.SQL("pr.unit_amount::numeric / (case when pr.currency = any(%(zd)s) then 1 else 100 end)")
        priced = sql.SQL("pr.product_id = {}.id and pr.active and pr.unit_amount is not null").format(ident)
        cond: list[sql.Composable] = [priced]
        if currency:
            cond.append(sql.SQL("pr.currency = %(currency)s"))
        if min_price is not None:
            cond.append(sql.SQL("{} >= %(min_price)s").format(major))
        if max_price is not None:
            cond.append(sql.SQL("{} <= %(max_price)s").format(major))
        parts.append(sql.SQL("exists (select 1 from prices pr where {})").format(sql.SQL(" and ").join(cond)))
    return sql.SQL(" and ").join(parts)


def tsquery_text(query: str, op: str = "|") -> str:
    """The query's words (stemmed by the 'english' configuration) joined by ``&`` (all) or ``|`` (any)."""
    words = [w for w in _WORD_RE.findall(query.lower()) if len(w) > 1]
    return f" {op} ".join(dict.fromkeys(words))


def fuse(*rankings: list[str], k: int = RRF_K) -> list[tuple[str, float]]:
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, rid in enumerate(ranking):
            scores[rid] = scores.get(rid, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


async def candidates(
    db: Database,
    data: ShopData,
    embedder: Embedder,
    query: str,
    *,
    currency: str | None = None,
    min_price: float | None = None,
    max_price: float | None = None,
    n: int = CANDIDATES,
    ef_search: int | None = None,
    exact: bool = False,
) -> tuple[list[str], list[str]]:
    """(vector ranking, full-text ranking) of product ids; ``exact`` compares every vector
    instead of walking the HNSW graph (for measuring recall)."""
    dims = await data.vector_dims(db, embedder)
    vector = await query_embedding(embedder, query, dims)
    params: dict[str, Any] = {
        "q": vector_literal(vector),
        "n": n,
        "tsq": tsquery_text(query, "&"),
        "currency": currency.lower() if currency else None,
        "min_price": min_price,
        "max_price": max_price,
        "zd": sorted(ZERO_DECIMAL),
    }
    flt = _filters("c", currency=currency, min_price=min_price, max_price=max_price)
    ann = sql.SQL(
        "{rel}, ann as ({ann}) select c.id, min(c.distance) as distance from ann c where {flt}"
        " group by c.id order by 2, 1"
    ).format(rel=data.relations(), ann=data.ann_query(dims), flt=flt)
    fts = sql.SQL(
        "{rel} select c.id, max(ts_rank_cd(c.fts, q)) as rank from product_text c, to_tsquery('english', %(tsq)s) q"
        " where c.fts @@ q and {flt} group by c.id order by 2 desc, 1 limit %(n)s"
    ).format(rel=data.relations(), flt=flt)
    async with db.transaction() as conn:
        await conn.execute("select set_config('hnsw.ef_search', %s, true)", (str(ef_search or max(n, EF_SEARCH)),))
        if exact:
            await conn.execute("set local enable_indexscan = off")
        by_vector = [r["id"] for r in await (await conn.execute(ann, params)).fetchall()]
        by_text = [r["id"] for r in await (await conn.execute(fts, params)).fetchall()] if params["tsq"] else []
        if params["tsq"] and len(by_text) < MIN_ALL_WORDS:  # few products have every word: any word will do
            params["tsq"] = tsquery_text(query, "|")
            by_text = [r["id"] for r in await (await conn.execute(fts, params)).fetchall()]
    return by_vector, by_text


async def product_cards(
    db: Database, data: ShopData, ids: list[str], *, currency: str | None = None, full: bool = False
) -> list[dict[str, Any]]:
    """Compact product records, in the order of ``ids``."""
    if not ids:
        return []
    query = sql.SQL(
        "{rel} select p.id, p.name, p.category, p.active, p.description,"
        " (select json_agg(json_build_object('c', pr.currency, 'a', pr.unit_amount, 'r', pr.recurring)"
        "  order by pr.currency, pr.unit_amount) from prices pr where pr.product_id = p.id and pr.active"
        "  and pr.unit_amount is not null and (%(currency)s::text is null or pr.currency = %(currency)s)) as prices"
        " from products p where p.id = any(%(ids)s)"
    ).format(rel=data.relations())
    rows = await db.fetch_all(query, {"ids": ids, "currency": currency.lower() if currency else None})
    by_id = {}
    for row in rows:
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
        by_id[row["id"]] = {k: v for k, v in card.items() if v not in (None, "")}
    return [by_id[i] for i in ids if i in by_id]


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
) -> list[dict[str, Any]]:
    by_vector, by_text = await candidates(
        db, data, embedder, query, currency=currency, min_price=min_price, max_price=max_price
    )
    ranked = fuse(by_vector, by_text)[:limit]
    return await product_cards(db, data, [rid for rid, _ in ranked], currency=currency)
