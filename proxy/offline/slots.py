"""Everything a message says that can fill a tool's arguments, found once per message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from proxy.offline import entities
from proxy.offline.intents import insight_options, insight_question
from proxy.offline.money import PriceBounds, find_prices, strip_prices
from proxy.offline.periods import MONTHS, Period, find_period
from proxy.offline.words import STOP_WORDS, tokens

# Phrases that frame a product question but are not what is wanted.
_FRAMES = re.compile(
    r"\b(?:do|does|did|can|could|would|will)\s+(?:you|u|ya)\s+(?:guys\s+)?(?:have|sell|stock|carry|offer|got|show|recommend|suggest)\b"
    r"|\b(?:i\s*(?:'m|am)|im)\s+(?:looking|searching)\s+for\b|\blooking\s+for\b|\bsearching\s+for\b|\bin\s+the\s+market\s+for\b"
    r"|\bi\s*(?:'d|would)\s+like\b|\bi\s+(?:need|want)\b|\bhow\s+much\s+(?:is|are|does|do|for)\b|\bwhat\s+(?:is|are)\s+the\s+prices?\s+of\b"
    r"|\bis\s+there\b|\bare\s+there\b|\bhave\s+you\s+got\b|\bgot\s+any\b|\bin\s+stock\b|\bon\s+sale\b"
    r"|\btell\s+me\s+(?:more\s+)?about\b|\bshow\s+me\b|\bwhat\s+about\b|\bhow\s+about\b|\bwhat\s+kind\s+of\b"
    r"|\bthe\s+cheapest\b|\bthe\s+most\s+expensive\b|\bone\b|\bones\b|\bfor\s+me\b",
    re.IGNORECASE,
)
_PERIOD_WORDS = frozenset(
    [
        *MONTHS,
        "last",
        "this",
        "previous",
        "past",
        "current",
        "month",
        "months",
        "year",
        "years",
        "week",
        "weeks",
        "day",
        "days",
        "today",
        "yesterday",
        "since",
        "until",
        "quarter",
        "ytd",
        "q1",
        "q2",
        "q3",
        "q4",
        "during",
    ]
)
_EXTRA_FILLER = frozenset(
    [
        "hey",
        "hi",
        "hello",
        "please",
        "thanks",
        "thank",
        "sold",
        "sell",
        "selling",
        "bought",
        "available",
        "stock",
        "stocked",
        "shop",
        "store",
        "sale",
        "search",
        "find",
        "show",
        "looking",
        "searching",
        "recommend",
        "suggest",
        "tell",
        "details",
        "detail",
        "info",
        "information",
        "cost",
        "costs",
        "price",
        "prices",
        "priced",
        "pricing",
        "cheap",
        "cheapest",
        "expensive",
        "priciest",
        "affordable",
        "inexpensive",
        "budget",
        "under",
        "below",
        "over",
        "above",
        "wanna",
        "gonna",
        "help",
        "deal",
        "deals",
        "bargain",
        "bargains",
        "special",
        "specials",
        "order",
        "ordering",
        "purchase",
        "purchasing",
        "compare",
        "comparing",
        "comparison",
        "difference",
        "differences",
        "versus",
        "vs",
        "between",
        "whats",
        "what's",
        "who's",
        "u",
        "ur",
        "ya",
        "yall",
        "guys",
        "dont",
        "don't",
        "doesn't",
        "isnt",
        "isn't",
        "im",
        "i'm",
        "id",
        "i'd",
    ]
)


@dataclass(frozen=True, slots=True)
class Slots:
    text: str
    query: str
    """The product words of the message ("waterproof jacket"), or "" when it names none."""
    prices: PriceBounds
    period: Period | None
    emails: tuple[str, ...]
    ids: entities.Ids
    own_name: str | None
    person: str | None
    phone: str | None
    limit: int | None
    pick: str | None
    tally: str | None
    """``count`` or ``total``: how many, or how much in all, the list shown comes to."""
    ordinal: int | None
    refers_back: bool
    question: str | None
    question_weight: float
    by_revenue: bool
    by_month: bool
    by_customer: bool
    low_end: bool = False
    """The customers who spent the least are asked for ("who spent the least?", "bottom customers")."""
    of_shown: bool = False
    """The message names the list just shown ("of them", "of those", "of our top customers")."""
    whole_shop: bool = False
    """The message is about the whole shop ("overall", "in the shop"), not the list just shown."""
    size: str | None = None
    """``largest`` or ``smallest``: one end of a list of orders ("and the largest?")."""

    @property
    def modifies(self) -> bool:
        """Whether the message changes something a previous question asked (for follow-ups)."""
        return bool(
            self.period
            or self.prices
            or self.pick
            or self.tally
            or self.ordinal
            or self.limit
            or self.by_revenue
            or self.by_month
            or self.size
        )


def product_query(text: str) -> str:
    """The words of ``text`` a product search needs: frames, prices, periods and fillers removed."""
    cleaned = entities.EMAIL.sub(" ", text)
    cleaned = re.sub(r"\b(?:prod|cus|in)_\w+", " ", cleaned)
    cleaned = _FRAMES.sub(" ", strip_prices(cleaned))
    words = [
        w
        for w in (t.removesuffix("'s").removesuffix("'") for t in tokens(cleaned))
        if w.isalnum()
        and not w.isdigit()
        and w not in STOP_WORDS
        and w not in _EXTRA_FILLER
        and w not in _PERIOD_WORDS
        and len(w) > 1
    ]
    return " ".join(dict.fromkeys(words))


_AND_ANOTHER = re.compile(r"\s*(?:,|\band\b|&|\bplus\b|\bas well as\b)\s+(?=(?:a|an|some|the|also)\b)", re.I)


def product_queries(text: str) -> list[str]:
    """One query per product asked for: "a tent and a sleeping bag" -> ["tent", "sleeping bag"].

    Only where a new article starts the next part, so "black and white mug" stays one product.
    """
    parts = [product_query(part) for part in _AND_ANOTHER.split(text)]
    found = [p for p in parts if p]
    return found[:3] if len(found) > 1 else [product_query(text)]


def find_slots(text: str, now: datetime) -> Slots:
    question, weight = insight_question(text)
    options = insight_options(text)
    return Slots(
        text=text,
        query=product_query(text),
        prices=find_prices(text),
        period=find_period(text, now),
        emails=tuple(entities.find_emails(text)),
        ids=entities.find_ids(text),
        own_name=entities.own_name(text),
        person=entities.person_name(text),
        phone=entities.find_phone(text),
        limit=entities.find_limit(text),
        pick=entities.find_pick(text),
        tally=entities.find_tally(text),
        ordinal=entities.find_ordinal(text),
        refers_back=entities.refers_back(text),
        question=question,
        question_weight=weight,
        by_revenue=bool(options["by_revenue"]),
        by_month=bool(options["by_month"]),
        by_customer=bool(options["by_customer"]),
        low_end=entities.low_end(text),
        of_shown=entities.of_shown(text),
        whole_shop=entities.whole_shop(text),
        size=entities.find_size(text),
    )
