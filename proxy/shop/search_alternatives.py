"""The alternatives of a search: products with the query's words that fail a price or currency
filter, nearest to the filters first, each with the filters it fails."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from psycopg import sql

from proxy.shop.price_filters import MAJOR_AMOUNT, Filters, filter_params, price_conditions
from proxy.shop.search_words import WORDS_CTE, Hit, QueryWords, tiers
from proxy.shop.source import ShopData

if TYPE_CHECKING:
    from proxy.store.db import Database


_STATS_TEXT = (  # per product, over its active prices
    "coalesce(bool_or(pr.currency = %(currency)s), false) as has_currency,"
    " min({m}) filter (where {cur}) as lo_in, max({m}) filter (where {cur}) as hi_in,"
    " min({m}) as lo_all, max({m}) as hi_all, coalesce(bool_or({ok}), false) as passes"
)
_PRICE_STATS = sql.SQL(
    " cross join lateral (select " + _STATS_TEXT + " from prices pr where pr.product_id = p.id and pr.active"
    " and pr.unit_amount is not null) s"
)


def _outside(f: Filters, r: dict[str, Any]) -> tuple[list[str], tuple[Any, ...]]:
    """The filters a product fails, and how near it is: in the currency first, then by how far
    its prices lie from the range (cheapest first when max_price was exceeded, dearest first when
    min_price was not reached)."""
    in_currency = not f.currency or r["has_currency"]
    lo, hi = (r["lo_in"], r["hi_in"]) if in_currency else (r["lo_all"], r["hi_all"])
    fails = [] if in_currency else ["currency"]
    below = Decimal(str(f.min_price)) - hi if f.min_price is not None and hi is not None else Decimal(0)
    above = lo - Decimal(str(f.max_price)) if f.max_price is not None and lo is not None else Decimal(0)
    if f.min_price is not None and (hi is None or below > 0):
        fails.append("min_price")
    if f.max_price is not None and (lo is None or above > 0):
        fails.append("max_price")
    if not fails:  # prices on both sides of the range, none inside it
        fails = [k for k in ("min_price", "max_price") if getattr(f, k) is not None]
    return fails, (not in_currency, lo is None and hi is None, max(below, above, Decimal(0)))


def _nearest_prices(f: Filters) -> list[tuple[sql.Composable, sql.Composable]]:
    """(condition, order) on prices ``pr`` that read those just outside the range first: in the
    currency, if one was given (the amount index serves them), then in any currency. Without a
    currency the stored amount orders the prices of one kind of currency (cents or whole units)
    exactly; the products read are then sorted by their real distance."""
    steps: list[tuple[sql.Composable, sql.Composable]] = []
    for in_currency in [True, False] if f.currency else [False]:
        cond: list[sql.Composable] = [sql.SQL("pr.currency = %(currency)s")] if in_currency else []
        order: sql.Composable
        if f.max_price is not None:
            cond.append(sql.SQL("not ({} <= %(max_price)s)").format(MAJOR_AMOUNT))
            cond += [sql.SQL("pr.unit_amount > %(max_minor)s")] if in_currency else []
            order = sql.SQL("pr.unit_amount asc")
        elif f.min_price is not None:
            cond.append(sql.SQL("not ({} >= %(min_price)s)").format(MAJOR_AMOUNT))
            cond += [sql.SQL("pr.unit_amount < %(min_minor)s")] if in_currency else []
            order = sql.SQL("pr.unit_amount desc")
        else:
            cond.append(sql.SQL("pr.currency <> %(currency)s"))
            order = sql.SQL("pr.product_id")
        steps.append((sql.SQL(" and ").join(cond), order))
    return steps


async def _any_has(db: Database, data: ShopData, tq: str) -> bool:
    """Whether any product's text matches the full-text query (one probe of the GIN index)."""
    query = sql.SQL("{} select exists (select 1 from product_text c where c.fts @@ %(tq)s::tsquery) as found").format(
        data.relations()
    )
    row = await db.fetch_one(query, {"tq": tq})
    return bool(row and row["found"])


async def outside_filters(
    db: Database, data: ShopData, qw: QueryWords, f: Filters, *, limit: int, exclude: list[str], more_than: int = 0
) -> list[Hit]:
    """Active products with the most of the words (any product when there are no words), more
    than ``more_than`` of them (those with fewer add nothing to the products already listed),
    that fail a given filter, nearest to the filters first, with the filters each one fails.

    Per tier of words (see ``tiers``), prices just outside the range are read in amount order
    and their products kept when they have the words, so the cheapest products above a
    ``max_price`` are found without reading every product that has a common word."""
    ok = price_conditions(f)
    stats = _PRICE_STATS.format(
        m=MAJOR_AMOUNT,
        cur=sql.SQL("(%(currency)s::text is null or pr.currency = %(currency)s)"),
        ok=sql.SQL(" and ").join(ok) if ok else sql.SQL("true"),
    )
    params = filter_params(f, wq=qw.queries, anyq=qw.any_query(), seen=list(exclude), cap=limit * 4)
    words = [tq for m, tq in tiers(qw) if m > more_than] if qw.words else [None]
    found: dict[str, tuple[tuple[Any, ...], Hit]] = {}
    for tq in words:
        if tq and not await _any_has(db, data, tq):
            continue  # reading the prices in amount order would find nothing, after reading them all
        for near, order in _nearest_prices(f):
            has_words = sql.SQL("c.fts @@ %(tq)s::tsquery") if tq else sql.SQL("true")
            query = sql.SQL(
                "{rel}, {words},"
                " cand as (select c.id, c.fts from prices pr join product_text c on c.id = pr.product_id where"
                " pr.active and pr.unit_amount is not null and {near} and {has_words}"
                " and not (c.id = any(%(seen)s)) order by {order} limit %(cap)s),"
                " hits as (select distinct on (c.id) c.id, array(select w.i from words w where c.fts @@ w.q order"
                " by w.i) as matched, case when %(tq)s::text is null then 0.0 else ts_rank_cd(c.fts,"
                " %(anyq)s::tsquery) end as rank from cand c)"
                " select h.id, h.matched, h.rank, s.* from hits h join products p on p.id = h.id and p.active"
            ).format(rel=data.relations(), words=WORDS_CTE, near=near, has_words=has_words, order=order)
            rows = await db.fetch_all(query + stats, {**params, "tq": tq})
            params["seen"] = params["seen"] + [r["id"] for r in rows]
            for r in rows:
                if not r["passes"] and r["id"] not in exclude and r["id"] not in found:
                    fails, nearness = _outside(f, r)
                    hit = Hit(r["id"], [i - 1 for i in r["matched"]], fails, float(r["rank"]))
                    found[hit.id] = ((-len(hit.matched), *nearness, -hit.rank, hit.id), hit)
            if len(found) >= limit:
                return [hit for _, hit in sorted(found.values(), key=lambda x: x[0])[:limit]]
    return [hit for _, hit in sorted(found.values(), key=lambda x: x[0])[:limit]]
