"""Prices in what people write: "under $100", "between 50 and 80 euros", "€150", "less than fifty bucks"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from number_parser import parse_number
from price_parser import Price

_CURRENCY_WORDS = {
    "$": "USD",
    "us$": "USD",
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "buck": "USD",
    "bucks": "USD",
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "quid": "GBP",
    "chf": "CHF",
    "franc": "CHF",
    "francs": "CHF",
    "¥": "JPY",
    "jpy": "JPY",
    "yen": "JPY",
    "sek": "SEK",
    "nok": "NOK",
    "dkk": "DKK",
    "pln": "PLN",
    "cad": "CAD",
    "aud": "AUD",
}
_CUR = r"(?:us\$|[$€£¥]|usd|eur|euros?|dollars?|bucks?|gbp|pounds?|quid|chf|francs?|jpy|yen|sek|nok|dkk|pln|cad|aud)"
_NUM = r"\d+(?:[.,']\d{3})*(?:[.,]\d{1,2})?(?:\s?k\b)?"
_AMOUNT = rf"(?:(?P<pre>{_CUR})\s?)?(?P<num>{_NUM})(?:\s?(?P<post>{_CUR})(?![a-z]))?"
_PLAIN = rf"(?:(?:{_CUR})\s?)?(?:{_NUM})(?:\s?(?:{_CUR})(?![a-z]))?"
_MAX_WORDS = (
    r"under|below|beneath|less\s+than|cheaper\s+than|lower\s+than|not\s+more\s+than|no\s+more\s+than|"
    r"at\s+most|up\s+to|max(?:imum)?|within|budget(?:\s+of|\s+is)?|for\s+less\s+than|<=?|for|around|about|"
    r"approximately|roughly"
)
_MIN_WORDS = r"over|above|more\s+than|at\s+least|min(?:imum)?|starting\s+(?:at|from)|from|>=?|pricier\s+than"
_RANGE = re.compile(
    rf"(?:between|from)\s+(?P<a>{_PLAIN})\s+(?:and|to|-|until)\s+(?P<b>{_PLAIN})|(?P<c>{_PLAIN})\s*(?:-|–|to)\s*(?P<d>{_PLAIN})",
    re.IGNORECASE,
)
_BOUND = re.compile(rf"(?:(?P<max>{_MAX_WORDS})|(?P<min>{_MIN_WORDS}))\s+(?P<amount>{_PLAIN})", re.IGNORECASE)
_BARE = re.compile(_AMOUNT, re.IGNORECASE)
_CURRENCY_ONLY = re.compile(rf"(?<![a-z]){_CUR}(?![a-z])", re.IGNORECASE)
_IN_CURRENCY = re.compile(r"\bin\s+(?P<cur>usd|eur|euros?|dollars?|gbp|pounds?|chf)\b", re.IGNORECASE)
_NUMBER_WORDS = (
    r"zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand"
)
_SPELLED = re.compile(rf"\b(?:a\s+)?(?:{_NUMBER_WORDS})(?:[\s-]+(?:and\s+)?(?:{_NUMBER_WORDS}))*\b(?!-)", re.IGNORECASE)
_PRICE_CONTEXT = re.compile(r"\b(?:price[sd]?|cost|costs|budget|cheap\w*|expensive|spend|pay)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PriceBounds:
    min_price: float | None = None
    max_price: float | None = None
    currency: str | None = None

    def __bool__(self) -> bool:
        return self.min_price is not None or self.max_price is not None or self.currency is not None


def spell_out_numbers(text: str) -> str:
    """Numbers written in words become digits ("fifty bucks" -> "50 bucks"); ordinals are left alone."""

    def replace(match: re.Match[str]) -> str:
        span = match.group(0)
        value = parse_number(re.sub(r"^a\s+", "one ", span, flags=re.IGNORECASE))
        return str(value) if value is not None else span

    return _SPELLED.sub(replace, text)


def currency_code(word: str | None) -> str | None:
    return _CURRENCY_WORDS.get(word.lower()) if word else None


def _amount(num: str) -> float | None:
    thousands = num.lower().replace(" ", "").endswith("k")
    digits = num.lower().replace("k", "").strip()
    price = Price.fromstring(digits)
    if price.amount is None:
        return None
    try:
        value = Decimal(price.amount) * (1000 if thousands else 1)
    except InvalidOperation:
        return None
    return float(value)


def _from_match(match: re.Match[str], prefix: str = "") -> tuple[float | None, str | None]:
    num = match.group(f"{prefix}num") if prefix else match.group("num")
    pre = match.group(f"{prefix}pre") if prefix else match.group("pre")
    post = match.group(f"{prefix}post") if prefix else match.group("post")
    return _amount(num), currency_code(pre) or currency_code(post)


def _amount_groups(text: str) -> tuple[float | None, str | None]:
    match = _BARE.fullmatch(text.strip())
    if match is None:
        return None, None
    return _from_match(match)


def _is_year_or_id(text: str, start: int, end: int, num: str) -> bool:
    before = text[max(0, start - 1) : start]
    after = text[end : end + 1]
    if before in ("_", "-", "#") or after in ("_",):
        return True
    digits = num.replace(",", "").replace(".", "")
    return len(digits) == 4 and digits.startswith(("19", "20")) and "." not in num and "," not in num


def find_prices(text: str) -> PriceBounds:
    """Price bounds and the currency named in ``text``; empty bounds when there are none."""
    text = spell_out_numbers(text)
    low: float | None = None
    high: float | None = None
    currency: str | None = None
    consumed: list[tuple[int, int]] = []
    for match in _RANGE.finditer(text):
        a_text, b_text = (
            (match.group("a"), match.group("b")) if match.group("a") else (match.group("c"), match.group("d"))
        )
        a, a_cur = _amount_groups(a_text)
        b, b_cur = _amount_groups(b_text)
        if a is None or b is None or re.search(r"\d{4}\s*-\s*\d|\d\s*-\s*\d{1,2}\s*-", match.group(0)):
            continue
        if not (a_cur or b_cur or _PRICE_CONTEXT.search(text)):
            continue
        low, high = min(a, b), max(a, b)
        currency = currency or a_cur or b_cur
        consumed.append(match.span())
    for match in _BOUND.finditer(text):
        if any(s <= match.start() < e for s, e in consumed):
            continue
        value, cur = _amount_groups(match.group("amount"))
        start = match.start("amount")
        if value is None or _is_year_or_id(text, start, match.end("amount"), match.group("amount")):
            continue
        word = (match.group("max") or match.group("min") or "").lower()
        loose = word in ("for", "around", "about", "approximately", "roughly", "from")
        if loose and not cur and not _currency_near(text) and not _PRICE_CONTEXT.search(text):
            continue
        if match.group("max"):
            high = value
        else:
            low = value
        currency = currency or cur
        consumed.append(match.span())
    if low is None and high is None:
        for match in _BARE.finditer(text):
            value, cur = _from_match(match)
            if value is None or cur is None or any(s <= match.start() < e for s, e in consumed):
                continue
            if _is_year_or_id(text, match.start("num"), match.end("num"), match.group("num")):
                continue
            high, currency = value, currency or cur  # "a jacket for €150": a budget
            break
    if currency is None:
        named = _IN_CURRENCY.search(text) or _CURRENCY_ONLY.search(text)
        if named:
            currency = currency_code(named.group("cur") if "cur" in named.groupdict() else named.group(0))
    return PriceBounds(low, high, currency)


def _currency_near(text: str) -> bool:
    return _CURRENCY_ONLY.search(text) is not None


def strip_prices(text: str) -> str:
    """``text`` without its price phrases, for the words of a search."""
    text = spell_out_numbers(text)
    text = _RANGE.sub(" ", text)
    text = _BOUND.sub(" ", text)
    text = re.sub(rf"(?:(?:{_CUR})\s?)?\b\d+(?:[.,]\d+)?\b(?:\s?(?:{_CUR}))?", " ", text, flags=re.IGNORECASE)
    text = _CURRENCY_ONLY.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip()
