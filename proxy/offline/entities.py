"""Things named in a message: emails, record ids, people's names, phone numbers, how many, which one."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

from proxy.offline.money import spell_out_numbers
from proxy.offline.periods import MONTHS

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_IDS = re.compile(r"\b(?P<kind>prod|cus|in|price|il|lead|order|ord|inv)_[A-Za-z0-9]+\b")
_INVOICE_NUMBER = re.compile(r"\b[A-Z]{2,6}-\d{3,}\b")
_PHONE = re.compile(r"(?<![\w@])\+?\d[\d\s().-]{6,}\d(?![\w@])")
_NAME_WORD = r"[A-Za-zÀ-ÖØ-öø-ÿ][\w'’-]*"
_SELF_NAME = re.compile(
    rf"(?i:\bmy\s+name\s+is|\bi\s+am|\bi'm|\bim|\bthis\s+is|\bname:|\bname\s+is|\bname's)\s+"
    rf"(?P<n>{_NAME_WORD}(?:\s+{_NAME_WORD})?)"
)
_NAMED = re.compile(
    rf"(?i:\b(?:named|called|name\s+is|name\s+of|by\s+the\s+name(?:\s+of)?))\s+(?P<n>{_NAME_WORD}(?:\s+{_NAME_WORD})?)"
)
_CAPITALISED = re.compile(r"\b(?P<n>[A-Z][a-zà-ÿ'’-]+(?:\s+[A-Z][a-zà-ÿ'’-]+)?)")
_NOT_NAMES = frozenset(
    [
        "i",
        "im",
        "i'm",
        "is",
        "are",
        "was",
        "were",
        "the",
        "a",
        "an",
        "and",
        "or",
        "in",
        "on",
        "for",
        "of",
        "to",
        "with",
        "from",
        "by",
        "my",
        "me",
        "your",
        "our",
        "their",
        "it",
        "this",
        "that",
        "what",
        "who",
        "where",
        "when",
        "why",
        "how",
        "which",
        "can",
        "could",
        "would",
        "should",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "please",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "yes",
        "no",
        "not",
        "any",
        "some",
        "show",
        "tell",
        "find",
        "look",
        "give",
        "list",
        "customer",
        "customers",
        "client",
        "clients",
        "order",
        "orders",
        "buyer",
        "buyers",
        "account",
        "email",
        "mail",
        "info",
        "information",
        "details",
        "record",
        "records",
        "interested",
        "looking",
        *MONTHS,
        *(day.lower() for day in calendar.day_name),
        "eur",
        "usd",
        "here",
        "there",
        "sure",
        "also",
        "just",
    ]
)
_LIMIT = re.compile(
    r"\b(?:top|first|best|last|latest|biggest|largest|bottom|lowest)\s+(?P<a>\d{1,2})\b|\b(?P<b>\d{1,2})\s+(?:best|top|most|biggest|largest|cheapest|latest|last|recent|products|items|customers|orders|pairs|results)\b",
    re.IGNORECASE,
)
_ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5,
    "5th": 5, "last": -1,
}  # fmt: skip
_ORDINAL_REF = re.compile(
    r"\b(?:the\s+)?(?P<o>first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last)\s+(?:one|item|product|result)\b",
    re.IGNORECASE,
)
_IT_REF = re.compile(r"\b(?:it|that\s+one|this\s+one|that|this|them|those|these)\b", re.IGNORECASE)
_CHEAPEST = re.compile(
    r"\b(?:cheapest|least\s+expensive|lowest[\s-]+priced?|lowest\s+price|most\s+affordable|cheaper|budget\s+option)\b",
    re.IGNORECASE,
)
_PRICIEST = re.compile(
    r"\b(?:most\s+expensive|priciest|highest[\s-]+priced?|highest\s+price|dearest|premium\s+one|pricier)\b",
    re.IGNORECASE,
)
# "who spent the least?": the low end of a list ranked by money
_LEAST_SPENT = re.compile(
    r"\b(?:spent|spends|spend|spending|paid|pays)\s+(?:the\s+)?(?:least|lowest|smallest)\b"
    r"|\b(?:least|lowest|smallest)\s+(?:spent|spend|spending|spender)\b",
    re.IGNORECASE,
)
# "who spent the most?": the high end of a list ranked by money
_MOST_SPENT = re.compile(r"\b(?:spent|spends|paid|pays)\s+(?:the\s+)?most\b", re.IGNORECASE)
# The low end of the customers by spend: "bottom customers", "the lowest spenders"
_LOW_END = re.compile(
    r"\bbottom\s+(?:\d+\s+)?(?:customers?|clients?|buyers?|spenders?|shoppers?)\b"
    r"|\b(?:least|lowest|smallest)[\s-]+(?:spending|paying|valuable)\s+(?:customers?|clients?|buyers?|shoppers?)\b"
    r"|\b(?:lowest|smallest|least|bottom)\s+(?:\d+\s+)?spenders?\b"
    r"|\b(?:customers?|clients?|buyers?)\s+(?:who|that|with)\s+(?:spent|spend|paid)\s+(?:the\s+)?(?:least|lowest)\b",
    re.IGNORECASE,
)
# The list just shown, named: "who of them spent the least?", "the cheapest of those"
_OF_SHOWN = re.compile(
    r"\b(?:of|among|from|in)\s+(?:them|those|these|that\s+list|this\s+list|the\s+list|the\s+ones\s+shown)\b"
    r"|\bon\s+(?:the|that|this)\s+list\b|\b(?:of|among)\s+(?:our\s+|the\s+|these\s+|those\s+)?top\b",
    re.IGNORECASE,
)
# The whole shop, not the list just shown: "the most expensive in the shop", "who spent the least overall"
_WHOLE_SHOP = re.compile(
    r"\boverall\b|\bof\s+all\b|\bat\s+all\b|\bin\s+(?:the\s+|your\s+|our\s+)?(?:whole\s+|entire\s+)?"
    r"(?:shop|store|catalog(?:ue)?|range)\b|\b(?:you|we)\s+(?:have|sell|carry|stock)\b|\bof\s+everything\b"
    r"|\bany\s+price\b|\bwhatever\s+(?:the\s+)?price\b",
    re.IGNORECASE,
)
# A sum or a count of the list just shown: "how much in total?", "how many orders was that?"
_TOTAL = re.compile(
    r"\bin\s+total\b|\ball\s+together\b|\baltogether\b|\badd(?:ed|s)?\s+up\b|\bsum\b|\btotal\s+(?:of|spent|spend)\b"
    r"|\bhow\s+much\s+(?:was|is|were|are)\s+(?:that|it|this|those|these|they)\b"
    r"|\bhow\s+much\s+(?:did|have|had)\s+(?:i|they|he|she|we)\s+(?:spent|spend|paid|pay)\b",
    re.IGNORECASE,
)
_COUNT = re.compile(
    r"\bhow\s+many\s+(?:orders?\s+|purchases?\s+|times?\s+)?(?:was|were|is|are)\s+(?:that|it|this|those|these|they|there)\b"
    r"|\bhow\s+many\s+(?:orders|purchases)\s+(?:did|have|had)\s+(?:i|they|he|she|those|these)\b"
    r"|\bhow\s+many\s+(?:in\s+all|altogether|in\s+total)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Ids:
    products: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()
    invoices: tuple[str, ...] = ()
    other: tuple[str, ...] = ()


def find_emails(text: str) -> list[str]:
    return [m.rstrip(".") for m in EMAIL.findall(text)]


def find_ids(text: str) -> Ids:
    products, customers, invoices, other = [], [], [], []
    for match in _IDS.finditer(text):
        kind, value = match.group("kind"), match.group(0)
        if kind == "prod":
            products.append(value)
        elif kind == "cus":
            customers.append(value)
        elif kind in ("in", "inv"):
            invoices.append(value)
        else:
            other.append(value)
    other += _INVOICE_NUMBER.findall(text)
    return Ids(tuple(products), tuple(customers), tuple(invoices), tuple(other))


def find_phone(text: str) -> str | None:
    without_emails = EMAIL.sub(" ", text)
    for match in _PHONE.finditer(without_emails):
        digits = re.sub(r"\D", "", match.group(0))
        if 7 <= len(digits) <= 15 and not re.fullmatch(r"(?:19|20)\d\d-\d\d-\d\d", match.group(0).strip()):
            return " ".join(match.group(0).split())
    return None


def _clean_name(raw: str) -> str | None:
    words = [w.strip("'’-") for w in raw.split()]
    kept: list[str] = []
    for word in words:
        if not word or word.lower() in _NOT_NAMES or any(ch.isdigit() for ch in word):
            break
        kept.append(word[0].upper() + word[1:])
    return " ".join(kept) or None


def own_name(text: str) -> str | None:
    """The name the visitor gives for themselves ("my name is Jane Doe", "I'm Bob")."""
    for match in _SELF_NAME.finditer(text):
        if name := _clean_name(match.group("n")):
            return name
    return None


def person_name(text: str) -> str | None:
    """A name the message asks about ("a customer named Justin", "orders of Emma Wagner")."""
    if match := _NAMED.search(text):
        return _clean_name(match.group("n"))
    without = EMAIL.sub(" ", text)
    for match in _CAPITALISED.finditer(without):
        if match.start() == 0 or without[: match.start()].rstrip().endswith((".", "!", "?")):
            continue  # a capital at the start of a sentence says nothing
        if name := _clean_name(match.group("n")):
            return name
    return None


def name_from_email(email: str) -> str:
    local = re.split(r"[._+-]+", email.partition("@")[0])
    return " ".join(part.capitalize() for part in local if part and not part.isdigit()) or email.partition("@")[0]


def find_limit(text: str) -> int | None:
    """How many results were asked for ("top 5", "the three cheapest")."""
    match = _LIMIT.search(spell_out_numbers(text))
    if match is None:
        return None
    value = int(match.group("a") or match.group("b"))
    return value if 1 <= value <= 50 else None


def find_pick(text: str) -> str | None:
    """``cheapest`` or ``priciest`` when the message asks for one end of the price range."""
    if _PRICIEST.search(text) or _MOST_SPENT.search(text):
        return "priciest"
    if _CHEAPEST.search(text) or _LEAST_SPENT.search(text):
        return "cheapest"
    return None


_LARGER = re.compile(r"\b(?:largest|biggest|highest|greatest|maximum)\b", re.IGNORECASE)
_SMALLER = re.compile(r"\b(?:smallest|lowest|tiniest|minimum)\b", re.IGNORECASE)


def find_size(text: str) -> str | None:
    """``largest`` or ``smallest`` when the message asks for one end by size ("and the largest?"):
    of orders, not of prices (the biggest tent is not the dearest)."""
    if _LARGER.search(text):
        return "largest"
    if _SMALLER.search(text):
        return "smallest"
    return None


def low_end(text: str) -> bool:
    """Whether the message asks for the customers who spent the least ("who spent the least?",
    "bottom customers"), rather than the most."""
    return bool(_LEAST_SPENT.search(text) or _LOW_END.search(text))


def of_shown(text: str) -> bool:
    """Whether the message names the list just shown ("of them", "on the list", "of our top ...")."""
    return bool(_OF_SHOWN.search(text))


def whole_shop(text: str) -> bool:
    """Whether the message is about the whole shop, not the list just shown ("overall", "in the shop")."""
    return bool(_WHOLE_SHOP.search(text)) and not of_shown(text)


def find_tally(text: str) -> str | None:
    """``count`` or ``total`` when the message asks how many, or how much in all, the list shown comes to."""
    if _COUNT.search(text):
        return "count"
    if _TOTAL.search(text):
        return "total"
    return None


def find_ordinal(text: str) -> int | None:
    """Which item of an earlier list ("the second one": 2, "the last one": -1)."""
    if match := _ORDINAL_REF.search(text):
        return _ORDINALS[match.group("o").lower()]
    return None


def refers_back(text: str) -> bool:
    """Whether the message points at something said before ("it", "that one", "the first one")."""
    return bool(_ORDINAL_REF.search(text) or _IT_REF.search(text))
