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

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from psycopg import sql

from proxy.shop.embedders import Embedder
from proxy.shop.money import ZERO_DECIMAL, fmt, to_minor
from proxy.shop.query_words import MIN_TYPO_LENGTH, Vocabulary, content_words
from proxy.shop.source import ShopData, query_embedding, vector_literal

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
VOCABULARY_TTL = 300.0  # seconds a shop's word list is reused for typo correction
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

    def any_query(self) -> str:
        return " | ".join(f"({q})" for q in self.queries)


@dataclass(slots=True)
class Hit:
    id: str
    matched: list[int]  # indexes into QueryWords.words
    outside: list[str]


def _filters(alias: str, f: Filters) -> sql.Composable:
    """Active products with (if asked) an active price in range; prices compared in major units."""
    ident = sql.Identifier(alias)
    parts: list[sql.Composable] = [
        sql.SQL("exists (select 1 from products p where p.id = {}.id and p.active)").format(ident)
    ]
    if f.currency or f.min_price is not None or f.max_price is not None:
        priced = sql.SQL("pr.product_id = {}.id and pr.active and pr.unit_amount is not null").format(ident)
        cond: list[sql.Composable] = [priced]
        if f.currency:
            cond.append(sql.SQL("pr.currency = %(currency)s"))
        if f.min_price is not None:
            cond.append(sql.SQL("{} >= %(min_price)s").format(_MAJOR))
        if f.max_price is not None:
            cond.append(sql.SQL("{} <= %(max_price)s").format(_MAJOR))
        parts.append(sql.SQL("exists (select 1 from prices pr where {})").format(sql.SQL(" and ").join(cond)))
    return sql.SQL(" and ").join(parts)


_MAJOR = sql.SQL("pr.unit_amount::numeric / (case when pr.currency = any(%(zd)s) then 1 else 100 end)")


def _params(f: Filters, **extra: Any) -> dict[str, Any]:
    return {
        "currency": f.currency,
        "min_price": f.min_price,
        "max_price": f.max_price,
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
    """The shop's product words, reused for a few minutes (a new word only misses typo correction)."""
    key = repr(data)
    cached = _vocabularies.get(key)
    if cached and time.monotonic() - cached[0] < VOCABULARY_TTL:
        return cached[1]
    rows = await db.fetch_all(
        sql.SQL("{rel} select distinct u.lexeme as word from product_text c, unnest(c.fts) u").format(
            rel=data.relations()
        )
    )
    vocab = Vocabulary(r["word"] for r in rows)
    _vocabularies[key] = (time.monotonic(), vocab)
    return vocab


async def query_words(db: Database, data: ShopData, query: str) -> QueryWords:
    """Content words with their stems; a word no product has is also looked for as the shop's
    words one edit away (a typo)."""
    stems = await _stems(db, content_words(query))
    words = [w for w, lexeme in stems.items() if lexeme]
    lexemes = [stems[w] or "" for w in words]
    if not words:
        return QueryWords([], [])
    known = await db.fetch_all(
        sql.SQL(
            "{rel} select t.i, exists (select 1 from product_text c where c.fts @@ t.q::tsquery) as known"
            " from unnest(%(qs)s::text[]) with ordinality as t(q, i) order by t.i"
        ).format(rel=data.relations()),
        {"qs": [_tsquery_term(lx) for lx in lexemes]},
    )
    unknown = {r["i"] - 1 for r in known if not r["known"]}
    vocab = await vocabulary(db, data) if any(len(lexemes[i]) >= MIN_TYPO_LENGTH for i in unknown) else None
    queries = []
    for i, lexeme in enumerate(lexemes):
        terms = [lexeme] + (vocab.corrections(lexeme) if vocab and i in unknown else [])
        queries.append(" | ".join(_tsquery_term(t) for t in terms))
    return QueryWords(words, queries)


# --- candidates ---------------------------------------------------------------------------------


async def vector_ranking(
    db: Database,
    data: ShopData,
    embedder: Embedder,
    text: str,
    f: Filters,
    *,
    n: int = CANDIDATES,
    ef_search: int | None = None,
    exact: bool = False,
    dims: int | None = None,
) -> list[tuple[str, float]]:
    """(product id, distance), nearest first, within the filters; ``exact`` compares every
    vector instead of walking the HNSW graph (for measuring recall)."""
    dims = dims or await data.vector_dims(db, embedder)
    vector = await query_embedding(embedder, text, dims)
    ann = sql.SQL(
        "{rel}, ann as ({ann}) select c.id, min(c.distance) as distance from ann c where {flt}"
        " group by c.id order by 2, 1"
    ).format(rel=data.relations(), ann=data.ann_query(dims), flt=_filters("c", f))
    async with db.transaction() as conn:
        await conn.execute("select set_config('hnsw.ef_search', %s, true)", (str(ef_search or max(n, EF_SEARCH)),))
        if exact:
            await conn.execute("set local enable_indexscan = off")
        rows = await (await conn.execute(ann, _params(f, q=vector_literal(vector), n=n))).fetchall()
    return [(r["id"], float(r["distance"])) for r in rows]


def _word_hits(data: ShopData, where: sql.Composable) -> sql.Composable:
    """Products having any of the words, each with the indexes of the words it has."""
    return sql.SQL(
        "{rel}, words as (select t.i::int as i, t.q::tsquery as q from unnest(%(wq)s::text[]) with ordinality"
        " as t(q, i)),"
        " hits as (select c.id, array_agg(distinct w.i) as matched, max(ts_rank_cd(c.fts, %(anyq)s::tsquery))"
        " as rank from product_text c join words w on c.fts @@ w.q where c.fts @@ %(anyq)s::tsquery and {where}"
        " group by c.id)"
    ).format(rel=data.relations(), where=where)


async def word_ranking(db: Database, data: ShopData, qw: QueryWords, f: Filters, *, n: int = CANDIDATES) -> list[Hit]:
    """Products within the filters that have any of the words: most words first, then by rank."""
    query = _word_hits(data, _filters("c", f)) + sql.SQL(
        " select id, matched from hits order by cardinality(matched) desc, rank desc, id limit %(n)s"
    )
    rows = await db.fetch_all(query, _params(f, wq=qw.queries, anyq=qw.any_query(), n=n))
    return [Hit(r["id"], [i - 1 for i in r["matched"]], []) for r in rows]


async def outside_filters(
    db: Database, data: ShopData, qw: QueryWords, f: Filters, *, limit: int, exclude: list[str]
) -> list[Hit]:
    """Active products with the most of the words (any product when there are no words) that
    fail a given filter, nearest to the filters first, with the filters each one fails."""
    if qw.words:
        base = _word_hits(data, sql.SQL("true"))
    else:
        base = sql.SQL("{rel}, hits as (select id, '{{}}'::int[] as matched, 0.0 as rank from products)").format(
            rel=data.relations()
        )
    ok: list[sql.Composable] = [sql.SQL("pr.currency = %(currency)s")] if f.currency else []
    if f.min_price is not None:
        ok.append(sql.SQL("{} >= %(min_price)s").format(_MAJOR))
    if f.max_price is not None:
        ok.append(sql.SQL("{} <= %(max_price)s").format(_MAJOR))
    in_currency = sql.SQL("(%(currency)s::text is null or pr.currency = %(currency)s)")
    stats = sql.SQL(
        " select h.id, h.matched, h.rank, s.* from hits h join products p on p.id = h.id and p.active"
        " cross join lateral (select coalesce(bool_or(pr.currency = %(currency)s), false) as has_currency,"
        " min({m}) filter (where {cur}) as lo_in, max({m}) filter (where {cur}) as hi_in,"
        " min({m}) as lo_all, max({m}) as hi_all, coalesce(bool_or({ok}), false) as passes"
        " from prices pr where pr.product_id = h.id and pr.active and pr.unit_amount is not null) s"
    ).format(m=_MAJOR, cur=in_currency, ok=sql.SQL(" and ").join(ok) if ok else sql.SQL("true"))
    # how far the product's prices lie from the range: cheapest first when max_price was exceeded,
    # dearest first when min_price was not reached
    nearest = (
        sql.SQL(
            "greatest(coalesce(%(min_price)s - coalesce(hi_in, hi_all), 0), coalesce(coalesce(lo_in, lo_all)"
            " - %(max_price)s, 0)) asc nulls last,"
        )
        if f.min_price is not None or f.max_price is not None
        else sql.SQL("")
    )
    query = (
        base
        + sql.SQL(", stats as (")
        + stats
        + sql.SQL(
            ") select * from stats where not passes and not (id = any(%(exclude)s)) order by cardinality(matched) desc,"
            " (%(currency)s::text is not null and not has_currency), {nearest} rank desc, id limit %(limit)s"
        ).format(nearest=nearest)
    )
    params = _params(f, wq=qw.queries, anyq=qw.any_query(), exclude=exclude, limit=limit)
    out = []
    for r in await db.fetch_all(query, params):
        in_currency_ok = not f.currency or r["has_currency"]
        lo, hi = (r["lo_in"], r["hi_in"]) if in_currency_ok else (r["lo_all"], r["hi_all"])
        fails = [] if in_currency_ok else ["currency"]
        if f.min_price is not None and (hi is None or hi < Decimal(str(f.min_price))):
            fails.append("min_price")
        if f.max_price is not None and (lo is None or lo > Decimal(str(f.max_price))):
            fails.append("max_price")
        if not fails:  # prices on both sides of the range, none inside it
            fails = [k for k in ("min_price", "max_price") if getattr(f, k) is not None]
        out.append(Hit(r["id"], [i - 1 for i in r["matched"]], fails))
    return out


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
) -> dict[str, Any]:
    """``{"filters", "products", "nothing_matches"}`` plus, when nothing matches every word,
    ``"alternatives"`` and a ``"note"`` saying so in plain words."""
    f = Filters(currency.lower() if currency else None, min_price, max_price)
    dims = await data.vector_dims(db, embedder)  # first: it says what to do when the data is not ready
    qw = await query_words(db, data, query)
    by_vector = await vector_ranking(db, data, embedder, " ".join(qw.words) or query, f, dims=dims)
    if qw.words:
        by_words = await word_ranking(db, data, qw, f)
        score = dict(fuse([rid for rid, _ in by_vector], [h.id for h in by_words]))
        by_words.sort(key=lambda h: (-len(h.matched), -score[h.id], h.id))
        hits = by_words[:limit]
    else:
        hits = [Hit(rid, [], []) for rid, _ in by_vector[:limit]]
    products = await _cards(db, data, hits, qw, f)
    strong = any(p["match"] == STRONG for p in products)
    result: dict[str, Any] = {"filters": f.given(), "products": products, "nothing_matches": not strong}
    if strong:
        return result

    alternatives: list[Hit] = []
    if f.given() and (qw.words or not products):
        alternatives = await outside_filters(db, data, qw, f, limit=limit, exclude=[h.id for h in hits])
    if not alternatives and not products and qw.words:  # no product has any of the words
        alternatives = [Hit(rid, [], []) for rid, d in by_vector[:limit] if d <= MAX_NEIGHBOUR_DISTANCE]
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
