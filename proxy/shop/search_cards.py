"""The search's results as the visitor's assistant reads them: compact product cards, how well each
matches the query's words (``strong``, ``partial``, ``none``), the filters an alternative fails,
and a note in plain words when nothing matches every word.

The card's columns (``CARD``) are read by the search's statement itself, so that the results come
with their cards in its one round trip; :func:`product_cards` reads them for products named by id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg import sql

from proxy.shop.money import fmt
from proxy.shop.price_filters import Filters
from proxy.shop.search_words import Hit, QueryWords
from proxy.shop.source import ShopData

if TYPE_CHECKING:
    from proxy.store.db import Database

STRONG, PARTIAL, NONE = "strong", "partial", "none"

CARD = sql.SQL(
    "p.name, p.category, p.description, (select json_agg(json_build_object('c', pr.currency, 'a', pr.unit_amount,"
    " 'r', pr.recurring) order by pr.currency, pr.unit_amount) from prices pr where pr.product_id = p.id and"
    " pr.active and pr.unit_amount is not null and (%(currency)s::text is null or pr.currency = %(currency)s))"
    " as prices"
)


async def product_cards(
    db: Database, data: ShopData, ids: list[str], *, currency: str | None = None, full: bool = False
) -> list[dict[str, Any]]:
    """Compact product records, in the order of ``ids``."""
    if not ids:
        return []
    query = sql.SQL("{rel} select p.id, p.active, {card} from products p where p.id = any(%(ids)s)").format(
        rel=data.relations(), card=CARD
    )
    rows = await db.fetch_all(query, {"ids": ids, "currency": currency.lower() if currency else None})
    by_id = {row["id"]: card_of(row, full=full) for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def card_of(row: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    """A product card from the columns of ``CARD`` (and, when ``full``, ``active``)."""
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


async def labelled_cards(
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


def note(qw: QueryWords, query: str, f: Filters, *, partial: bool, alternatives: bool) -> str:
    """What the results lack, in plain words: ``partial`` when the products listed have only some
    of the words, ``alternatives`` when close items outside the filters or the words are listed."""
    what = '"' + (" ".join(qw.words) or query.strip()) + '"'
    if partial:
        text = (
            f"No product matches all of {what}{f.phrase()}; the products listed match only some of the words"
            " (see matched_words)."
        )
        return text + (" Other close items are listed under alternatives." if alternatives else "")
    if alternatives:
        return f"No product matches {what}{f.phrase()}. The closest are listed under alternatives."
    return f"No product matches {what}{f.phrase()}, and nothing close was found."
