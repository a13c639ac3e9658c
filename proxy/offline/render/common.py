"""Small pieces shared by the renderers: prices, lists, periods, matching a card to the words asked."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from proxy.offline.words import content_words, same_word, tokens

MAX_ITEMS = 5
_PRICE = re.compile(r"^\s*(?P<amount>-?\d+(?:\.\d+)?)\s+(?P<cur>[A-Za-z]{3})\b")


def join(items: Sequence[str], last: str = "and") -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


def bullets(lines: Iterable[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


def numbered(lines: Iterable[str]) -> str:
    return "\n".join(f"{n}. {line}" for n, line in enumerate(lines, 1))


def text(value: Any) -> str:
    return "" if value is None else str(value)


def count(value: Any, plural: str) -> str:
    """``3 orders``, ``1 order``: the number as given, the noun to match."""
    singular = {"times": "time", "units": "unit"}.get(plural, plural.removesuffix("s"))
    if " " in plural:
        head, _, last = plural.rpartition(" ")
        singular = f"{head} {last.removesuffix('s')}"
    return f"{text(value)} {singular if str(value) == '1' else plural}"


def price_of(card: Mapping[str, Any], currency: str | None = None) -> tuple[Decimal, str] | None:
    """The card's price in ``currency`` (else its first price) as (amount, code)."""
    found: list[tuple[Decimal, str]] = []
    for raw in card.get("prices") or []:
        match = _PRICE.match(str(raw))
        if not match:
            continue
        try:
            found.append((Decimal(match.group("amount")), match.group("cur").upper()))
        except InvalidOperation:
            continue
    if currency:
        wanted = [p for p in found if p[1] == currency.upper()]
        if wanted:
            return min(wanted)
    return found[0] if found else None


def prices_text(card: Mapping[str, Any], currency: str | None = None) -> str:
    prices = [str(p) for p in card.get("prices") or []]
    if currency:
        same = [p for p in prices if p.upper().endswith(currency.upper()) or f" {currency.upper()}/" in p.upper()]
        prices = same or prices
    return join(prices, "or")


def card_line(card: Mapping[str, Any], currency: str | None = None) -> str:
    name, pid = text(card.get("name")), text(card.get("id"))
    prices = prices_text(card, currency)
    head = f"{name} ({pid})" if pid else name
    return f"{head}: {prices}" if prices else head


def card_words(card: Mapping[str, Any]) -> list[str]:
    return tokens(" ".join(text(card.get(k)) for k in ("name", "category", "description")))


def match_of(card: Mapping[str, Any], query: str) -> str:
    """``strong`` (every content word of ``query`` is in the card), ``partial`` or ``none``.

    The search output says this itself when it can (``match``); this is for outputs that do not.
    """
    if isinstance(card.get("match"), str):
        return str(card["match"])
    wanted = content_words(query)
    if not wanted:
        return "strong"
    words = card_words(card)
    hits = sum(1 for w in wanted if any(same_word(w, c) for c in words))
    return "strong" if hits == len(wanted) else "partial" if hits else "none"


def _whole_month(start: str, end: str) -> str | None:
    """ "March 2026" when ``start`` .. ``end`` (ISO dates) is one whole calendar month."""
    try:
        first, last = date.fromisoformat(start[:10]), date.fromisoformat(end[:10])
    except ValueError:
        return None
    if first.day != 1 or (first.year, first.month) != (last.year, last.month):
        return None
    if (last + timedelta(days=1)).month == last.month:
        return None
    return f"{first:%B} {first.year}"


def period_text(data: Mapping[str, Any]) -> str:
    """ " in March 2026" or " from A to B" for an insight's period, "" for all of the data."""
    raw = text(data.get("period")).split(" (")[0]
    if " .. " not in raw:
        return ""
    start, end = (part.strip() for part in raw.split(" .. ", 1))
    start_known, end_known = bool(re.match(r"\d{4}-", start)), bool(re.match(r"\d{4}-", end))
    if start_known and end_known:
        if month := _whole_month(start, end):
            return f" in {month}"
        return f" from {start} to {end}" if start != end else f" on {start}"
    if start_known:
        return f" since {start}"
    if end_known:
        return f" up to {end}"
    return ""


def humanize(key: str) -> str:
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", key).replace("_", " ").strip()
    return words[:1].upper() + words[1:]
