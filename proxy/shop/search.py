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
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from itertools import combinations
from typing import TYPE_CHECKING, Any

from psycopg import sql

from proxy.shop.embedders import Embedder
from proxy.shop.money import ZERO_DECIMAL, exponent, fmt, to_minor
from proxy.shop.query_words import Vocabulary, content_words
from proxy.shop.source import NativeShopData, ShopData, query_embedding, vector_literal

if TYPE_CHECKING:
    from proxy.store.db import Database

RRF_K = 60
CANDIDATES = 100  # per branch
# How much of the HNSW graph a query walks: on 100k near-duplicate products, recall@10 is 0.86 at
# 100 and 0.96 at 400 for about 2 ms more (bench/README-search.md); it also leaves enough
# candidates after price filters.
EF_SEARCH = 400
# A product with none of the query's words is offered as an alternative only when its vector is
# this close (cosine distance): unrelated products sit at 0.8 and beyond with the offline embedder
# and with OpenAI's models, the same product type well under 0.7.
MAX_NEIGHBOUR_DISTANCE = 0.75
VOCABULARY_TTL = 60.0  # seconds a shop's word list is reused for typo correction
# Full text reads products in tiers, all words first, at most this many per tier.
TIER_ROWS = 100
MAX_COMBINATIONS = 20  # word combinations in one tier's query
STRONG, PARTIAL, NONE = "strong", "partial", "none"


@dataclass(frozen=True, slots=True)
class Filters:
    currency: str | None = None  # lower case, as stored
    min_price: float | None = None  # major units
    max_price: float | None = None

    def given(self) -> dict[str, Any]:
        """The filters that were given, as the tool reports them."""
        out: dict[str, Any] = {}
        if self.currency:
            out["currency"] = self.currency.upper()
        for key in ("min_price", "max_price"):
            value = getattr(self, key)
            if value is not None:
                out[key] = int(value) if float(value).is_integer() else value
        return out

    def minor(self, value: float | None, rounding: str) -> int | None:
        """A bound in the currency's minor units, rounded inwards (``ROUND_CEILING`` for a lower one)."""
        if value is None or not self.currency:
            return None
        return _whole(Decimal(str(value)).scaleb(exponent(self.currency)), rounding)

    def _amount(self, value: float) -> str:
        if self.currency:
            return fmt(to_minor(value, self.currency), self.currency) or str(value)
        return f"{Decimal(str(value)):.2f}"

    def phrase(self) -> str:
        """ " at or under 100.00 USD", " between 50.00 and 80.00 EUR", " in USD" or ""."""
        lo, hi = self.min_price, self.max_price
        if lo is not None and hi is not None:
            return f" between {self._amount(lo).split()[0]} and {self._amount(hi)}"
        if hi is not None:
            return f" at or under {self._amount(hi)}"
        if lo is not None:
            return f" at or above {self._amount(lo)}"
        return f" in {self.currency.upper()}" if self.currency else ""


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


def _price_ok(f: Filters) -> list[sql.Composable]:
    """Conditions on a price ``pr`` in the filters' currency and range. With a currency the bounds
    are compared in its minor units, as stored, so that an index on the amounts serves them."""
    cond: list[sql.Composable] = []
    if f.currency:
        cond.append(sql.SQL("pr.currency = %(currency)s"))
    for key, op in (("min_price", ">="), ("max_price", "<=")):
        if getattr(f, key) is None:
            continue
        if f.currency:
            cond.append(sql.SQL("pr.unit_amount {} {}").format(sql.SQL(op), sql.Placeholder(key[:3] + "_minor")))
        else:  # the exact test in major units, and a looser one on the stored amount that an index serves
            cond.append(sql.SQL("{} {} {}").format(_MAJOR, sql.SQL(op), sql.Placeholder(key)))
            cond.append(sql.SQL("pr.unit_amount {} {}").format(sql.SQL(op), sql.Placeholder(key[:3] + "_any")))
    return cond


def _filters(alias: str, f: Filters) -> sql.Composable:
    """Active products with (if asked) an active price in the currency and range. The price test
    is a semi-join, so Postgres may start from the prices when few are in range."""
    ident = sql.Identifier(alias)
    parts: list[sql.Composable] = [
        sql.SQL("exists (select 1 from products p where p.id = {}.id and p.active)").format(ident)
    ]
    if cond := _price_ok(f):
        parts.append(
            sql.SQL(
                "{}.id in (select pr.product_id from prices pr where pr.active and pr.unit_amount is not null and {})"
            ).format(ident, sql.SQL(" and ").join(cond))
        )
    return sql.SQL(" and ").join(parts)


_MAJOR = sql.SQL("pr.unit_amount::numeric / (case when pr.currency = any(%(zd)s) then 1 else 100 end)")


def _whole(value: Decimal, rounding: str) -> int:
    return int(value.to_integral_value(rounding))


def _params(f: Filters, **extra: Any) -> dict[str, Any]:
    return {
        "currency": f.currency,
        "min_price": f.min_price,
        "max_price": f.max_price,
        "min_minor": f.minor(f.min_price, ROUND_CEILING),
        "max_minor": f.minor(f.max_price, ROUND_FLOOR),
        # without a currency: amounts of zero-decimal currencies are major units, of the rest cents
        "min_any": None if f.min_price is None else _whole(Decimal(str(f.min_price)), ROUND_CEILING),
        "max_any": None if f.max_price is None else _whole(Decimal(str(f.max_price)) * 100, ROUND_FLOOR),
        "zd": sorted(ZERO_DECIMAL),
        **extra,
    }


def fuse(*rankings: list[str], k: int = RRF_K) -> list[tuple[str, float]]:
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, rid in enumerate(ranking):
            scores[rid] = scores.get(rid, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _tsquery_term(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


# --- the query's words ----------------------------------------------------------------------------

_lexemes: dict[str, str | None] = {}  # word -> its 'english' stem (None: a Postgres stop word)
_vocabularies: dict[str, tuple[float, Vocabulary]] = {}


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


async def vocabulary(db: Database, data: ShopData) -> Vocabulary:
    """The shop's product words, reused for a minute (a word added since only misses typo correction)."""
    key = repr(data)
    cached = _vocabularies.get(key)
    if cached and time.monotonic() - cached[0] < VOCABULARY_TTL:
        return cached[1]
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


# --- candidates ---------------------------------------------------------------------------------


_WORDS = sql.SQL(
    "words as (select t.i::int as i, t.q::tsquery as q from unnest(%(wq)s::text[]) with ordinality as t(q, i))"
)


async def vector_ranking(
    db: Database,
    data: ShopData,
    embedder: Embedder,
    text: str,
    f: Filters,
    *,
    qw: QueryWords | None = None,
    n: int = CANDIDATES,
    ef_search: int | None = None,
    exact: bool = False,
    dims: int | None = None,
) -> list[Hit]:
    """Products nearest to ``text`` first, within the filters, each with its distance and (given
    ``qw``) the query's words it has; ``exact`` compares every vector instead of walking the HNSW
    graph (for measuring recall). One round trip: the statements go through a pipeline."""
    dims = dims or await data.vector_dims(db, embedder)
    vector = await query_embedding(embedder, text, dims)
    words = bool(qw and qw.words)
    ann = sql.SQL(
        "{rel}, {words} ann as ({ann}) select c.id, min(c.distance) as distance, {matched} from ann c where {flt}"
        " group by c.id order by 2, 1"
    ).format(
        rel=data.relations(),
        words=_WORDS + sql.SQL(",") if words else sql.SQL(""),
        ann=data.ann_query(dims),
        flt=_filters("c", f),
        matched=sql.SQL(
            "(select coalesce(array_agg(distinct w.i), '{}') from product_text t join words w on t.fts @@ w.q"
            " where t.id = c.id) as matched, (select coalesce(max(ts_rank_cd(t.fts, %(anyq)s::tsquery)), 0)"
            " from product_text t where t.id = c.id) as rank"
            if words
            else "'{}'::int[] as matched, 0.0 as rank"
        ),
    )
    params = _params(f, q=vector_literal(vector), n=n)
    if qw and words:
        params.update(wq=qw.queries, anyq=qw.any_query())
    async with db.connection() as conn, conn.pipeline(), conn.transaction():
        await conn.execute("select set_config('hnsw.ef_search', %s, true)", (str(ef_search or max(n, EF_SEARCH)),))
        if exact:
            await conn.execute("set local enable_indexscan = off")
        rows = await (await conn.execute(ann, params)).fetchall()
    return [Hit(r["id"], [i - 1 for i in r["matched"]], [], float(r["rank"]), float(r["distance"])) for r in rows]


def tiers(qw: QueryWords) -> list[tuple[int, str]]:
    """(m, a full-text query for products with at least m of the words), m from all words down to
    one; a tier that would need more than MAX_COMBINATIONS word combinations is skipped."""
    k, out = len(qw.queries), []
    for m in range(k, 0, -1):
        if m not in (1, k) and math.comb(k, m) > MAX_COMBINATIONS:
            continue
        groups = (" & ".join(f"({qw.queries[i]})" for i in combo) for combo in combinations(range(k), m))
        out.append((m, " | ".join(f"({g})" for g in groups)))
    return out


def _tier(data: ShopData, f: Filters) -> sql.Composed:
    """At most %(cap)s products not yet seen that match the tier's query %(tq)s and the filters,
    each with the indexes of the words it has and its full-text rank. The cap bounds the rows
    read (and ranked) when a word is common: the GIN index finds them, the heap is read only that
    far."""
    return sql.SQL(
        "{rel}, {words},"
        " cand as (select c.id, c.fts from product_text c where c.fts @@ %(tq)s::tsquery and {flt}"
        " and not (c.id = any(%(seen)s)) limit %(cap)s)"
        " select c.id, array(select w.i from words w where c.fts @@ w.q order by w.i) as matched,"
        " ts_rank_cd(c.fts, %(anyq)s::tsquery) as rank from cand c"
    ).format(rel=data.relations(), words=_WORDS, flt=_filters("c", f))


def _merge(hits: dict[str, Hit], rows: list[dict[str, Any]]) -> None:
    """Add rows of a tier; a product in several text rows (chunks) has the words of all."""
    for r in rows:
        matched = [i - 1 for i in r["matched"]]
        hit = hits.get(r["id"])
        if hit is None:
            hits[r["id"]] = Hit(r["id"], matched, [], float(r["rank"]))
        else:
            hit.matched = sorted(set(hit.matched) | set(matched))
            hit.rank = max(hit.rank, float(r["rank"]))


async def word_ranking(
    db: Database, data: ShopData, qw: QueryWords, f: Filters, *, limit: int, near: list[Hit], exact: bool = False
) -> list[Hit]:
    """Products within the filters that have any of the words: most words first, then by rank.

    The nearest vectors (``near``, within the filters, with their words) come first; then tiers
    from all words down to one are read until ``limit`` products have at least as many words as
    the tier asks for, so a query whose words all occur together never reads the products that
    have only one of them. ``exact`` reads every product of each tier (for measuring recall)."""
    hits: dict[str, Hit] = {h.id: Hit(h.id, h.matched, [], h.rank) for h in near}
    params = _params(f, wq=qw.queries, anyq=qw.any_query(), seen=[], cap=None if exact else TIER_ROWS)
    for m, tq in tiers(qw):
        if sum(1 for h in hits.values() if len(h.matched) >= m) >= limit:
            break
        _merge(
            hits,
            await db.fetch_all(_tier(data, f), {**params, "tq": tq, "seen": list(hits)}),
        )
    return sorted((h for h in hits.values() if h.matched), key=lambda h: (-len(h.matched), -h.rank, h.id))


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
            cond.append(sql.SQL("not ({} <= %(max_price)s)").format(_MAJOR))
            cond += [sql.SQL("pr.unit_amount > %(max_minor)s")] if in_currency else []
            order = sql.SQL("pr.unit_amount asc")
        elif f.min_price is not None:
            cond.append(sql.SQL("not ({} >= %(min_price)s)").format(_MAJOR))
            cond += [sql.SQL("pr.unit_amount < %(min_minor)s")] if in_currency else []
            order = sql.SQL("pr.unit_amount desc")
        else:
            cond.append(sql.SQL("pr.currency <> %(currency)s"))
            order = sql.SQL("pr.product_id")
        steps.append((sql.SQL(" and ").join(cond), order))
    return steps


async def outside_filters(
    db: Database, data: ShopData, qw: QueryWords, f: Filters, *, limit: int, exclude: list[str], more_than: int = 0
) -> list[Hit]:
    """Active products with the most of the words (any product when there are no words), more
    than ``more_than`` of them (those with fewer add nothing to the products already listed),
    that fail a given filter, nearest to the filters first, with the filters each one fails.

    Per tier of words (see ``tiers``), prices just outside the range are read in amount order
    and their products kept when they have the words, so the cheapest products above a
    ``max_price`` are found without reading every product that has a common word."""
    ok = _price_ok(f)
    stats = _PRICE_STATS.format(
        m=_MAJOR,
        cur=sql.SQL("(%(currency)s::text is null or pr.currency = %(currency)s)"),
        ok=sql.SQL(" and ").join(ok) if ok else sql.SQL("true"),
    )
    params = _params(f, wq=qw.queries, anyq=qw.any_query(), seen=list(exclude), cap=limit * 4)
    words = [tq for m, tq in tiers(qw) if m > more_than] if qw.words else [None]
    found: dict[str, tuple[tuple[Any, ...], Hit]] = {}
    for tq in words:
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
            ).format(rel=data.relations(), words=_WORDS, near=near, has_words=has_words, order=order)
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


# --- cards and the answer -----------------------------------------------------------------------


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


async def _cards(
    db: Database, data: ShopData, hits: list[Hit], qw: QueryWords, f: Filters, *, outside: bool = False
) -> list[dict[str, Any]]:
    """Cards with how each matches (and, for alternatives, the filters each fails); a product
    outside the currency shows all its prices."""
    other = {h.id for h in hits if "currency" in h.outside}
    same = [h.id for h in hits if h.id not in other]
    cards = {c["id"]: c for c in await product_cards(db, data, same, currency=f.currency)}
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
    dims = await data.vector_dims(db, embedder)  # first: it says what to do when the data is not ready
    qw = await query_words(db, data, query)
    by_vector = await vector_ranking(db, data, embedder, qw.text() or query, f, qw=qw, dims=dims, exact=exact)
    if qw.words:
        by_words = await word_ranking(db, data, qw, f, limit=limit, near=by_vector, exact=exact)
        score = dict(fuse([h.id for h in by_vector], [h.id for h in by_words]))
        by_words.sort(key=lambda h: (-len(h.matched), -score[h.id], h.id))
        hits = by_words[:limit]
    else:
        hits = [Hit(h.id, [], []) for h in by_vector[:limit]]
    products = await _cards(db, data, hits, qw, f)
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
        alternatives = [Hit(h.id, [], []) for h in by_vector[:limit] if h.distance <= MAX_NEIGHBOUR_DISTANCE]
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
