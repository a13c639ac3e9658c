"""The alternatives of a search: products with the query's words that fail a price or currency
filter, nearest to the filters first, each with the filters it fails."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from psycopg import sql

from proxy.shop.price_filters import MAJOR_AMOUNT, Filters, filter_params, price_conditions
from proxy.shop.search_sql import GENERIC, Positional, positional, run_generic
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


def _statement(data: ShopData, f: Filters, tiers_: list[bool], *, stats: sql.Composable) -> sql.Composed:
    """One statement for every step of ``outside_filters``: per tier of words (``tiers_``, True
    for a tier with words, full-text query %(aq1)s, %(aq2)s, ...) and per step of
    ``_nearest_prices``, a CTE reading at most %(cap)s products with the words from the prices
    just outside the range, in amount order, skipping those already read. Each CTE runs only
    while fewer than %(limit)s products read so far fail a filter (a condition evaluated once,
    before its scan), and a tier only when some product has its words at all (one probe of the
    GIN index: reading the prices in amount order would otherwise find nothing, after reading
    them all). Rows: the products read, each with its words, rank and price statistics."""
    ctes: list[sql.Composable] = [WORDS_CTE]
    steps = _nearest_prices(f)
    n = 0
    for j, has_tier in enumerate(tiers_, 1):
        tq = sql.Placeholder(f"aq{j}")
        if has_tier:
            ctes.append(
                sql.SQL(
                    "p{j} as (select exists (select 1 from product_text c where c.fts @@ {tq}::tsquery) as found)"
                ).format(j=sql.Literal(j), tq=tq)
            )
        for near, order in steps:
            n += 1
            prev = sql.Identifier(f"r{n - 1}")
            gate = sql.SQL("(select count(*) from {prev} x where not x.passes) < %(limit)s").format(prev=prev)
            if has_tier:
                gate = sql.SQL("{} and (select found from p{})").format(gate, sql.Literal(j))
            ctes.append(
                sql.SQL(
                    "c{n} as (select distinct on (c.id) c.id, c.fts from (select c.id, c.fts from prices pr join"
                    " product_text c on c.id = pr.product_id where {gate} and pr.active and pr.unit_amount is not null"
                    " and {near} and {has_words} and not (c.id = any(%(seen)s)) and not exists (select 1 from {prev} x"
                    " where x.id = c.id) order by {order} limit %(cap)s) c),"
                    " a{n} as (select h.id, array(select w.i from words w where h.fts @@ w.q order by w.i) as matched,"
                    " {rank} as rank, s.* from c{n} h join products p on p.id = h.id and p.active{stats}),"
                    " r{n} as (select * from {prev} union all select * from a{n})"
                ).format(
                    n=sql.Literal(n),
                    prev=prev,
                    gate=gate,
                    near=near,
                    order=order,
                    has_words=sql.SQL("c.fts @@ {}::tsquery").format(tq) if has_tier else sql.SQL("true"),
                    rank=sql.SQL("ts_rank_cd(h.fts, %(anyq)s::tsquery)") if has_tier else sql.SQL("0.0::real"),
                    stats=stats,
                )
            )
    # r0: no product read yet, with the columns of the rows that follow
    first = sql.SQL(
        "r0 as (select null::text as id, null::int[] as matched, null::real as rank, null::boolean as has_currency,"
        " null::numeric as lo_in, null::numeric as hi_in, null::numeric as lo_all, null::numeric as hi_all,"
        " null::boolean as passes where false)"
    )
    return sql.SQL("{rel}, {ctes} select * from {last}").format(
        rel=data.relations(),
        ctes=sql.SQL(", ").join([ctes[0], first, *ctes[1:]]),
        last=sql.Identifier(f"r{n}"),
    )


_statements: dict[tuple[Any, ...], Positional] = {}


def _text(data: ShopData, f: Filters, tiers_: list[bool]) -> Positional:
    """``_statement`` as text, kept per shape (as the search's own statement)."""
    shape = (f.currency is not None, f.min_price is not None, f.max_price is not None)
    key = (type(data), repr(data), shape, tuple(tiers_))
    text = _statements.get(key)
    if text is None:
        if len(_statements) > 1000:
            _statements.clear()
        ok = price_conditions(f)
        stats = _PRICE_STATS.format(
            m=MAJOR_AMOUNT,
            cur=sql.SQL("(%(currency)s::text is null or pr.currency = %(currency)s)"),
            ok=sql.SQL(" and ").join(ok) if ok else sql.SQL("true"),
        )
        text = _statements[key] = positional(_statement(data, f, tiers_, stats=stats).as_string(None))
    return text


async def outside_filters(
    db: Database, data: ShopData, qw: QueryWords, f: Filters, *, limit: int, exclude: list[str], more_than: int = 0
) -> list[Hit]:
    """Active products with the most of the words (any product when there are no words), more
    than ``more_than`` of them (those with fewer add nothing to the products already listed),
    that fail a given filter, nearest to the filters first, with the filters each one fails.

    Per tier of words (see ``tiers``), prices just outside the range are read in amount order
    and their products kept when they have the words, so the cheapest products above a
    ``max_price`` are found without reading every product that has a common word. All in one
    statement (``_statement``)."""
    words = [tq for m, tq in tiers(qw) if m > more_than] if qw.words else [None]
    if not words:
        return []
    params = filter_params(
        f,
        wq=qw.queries,
        anyq=qw.any_query(),
        seen=list(exclude),
        cap=limit * 4,
        limit=limit,
        **{f"aq{j}": tq for j, tq in enumerate(words, 1) if tq},
    )
    query = _text(data, f, [tq is not None for tq in words])
    async with db.connection() as conn:
        # sequential scans off: the prices are read in amount order (see ``search_sql``)
        rows = await run_generic(conn, query, params, GENERIC)
    found: dict[str, tuple[tuple[Any, ...], Hit]] = {}
    for r in rows:
        if not r["passes"] and r["id"] not in exclude and r["id"] not in found:
            fails, nearness = _outside(f, r)
            hit = Hit(r["id"], [i - 1 for i in r["matched"]], fails, float(r["rank"]))
            found[hit.id] = ((-len(hit.matched), *nearness, -hit.rank, hit.id), hit)
    return [hit for _, hit in sorted(found.values(), key=lambda x: x[0])[:limit]]
