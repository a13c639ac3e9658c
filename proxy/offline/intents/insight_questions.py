"""Which of shop_insights' questions a message asks (best sellers, revenue, top customers ...),
and how it wants the answer (by revenue, by month, by customer)."""

from __future__ import annotations

import re

from proxy.offline.intents.vocabulary import Cues, canonical_text, cues

_PURCHASE = r"(?:purchase|purchases|order|orders|sale|sales|basket|invoice|transaction|buy|checkout)"
INSIGHT_CUES: dict[str, Cues] = {
    "best_sellers": cues(
        (r"\bbest ?sell(?:er|ers|ing)?\b", 3.0),
        (r"\bbestsellers?\b", 3.0),
        (r"\bmost (?:popular|sold|bought|purchased|ordered|wanted|demanded)\b", 3.0),
        (r"\b(?:top|hottest|hot|popular)(?: \d+)? ?(?:selling|seller|sellers|products?|items?)\b", 2.5),
        (r"\bunits sold\b|\bby units\b|\bmost units\b|\bsold the most\b", 3.0),
        (r"\bmost (?:frequently|often|commonly) (?:ordered|bought|purchased|sold)\b|\bmost ordered\b", 3.0),
        (r"\bwhat (?:\w+ ){0,3}(?:buy|buying|bought|order|ordering|ordered|purchase|purchasing) (?:the )?most\b", 3.0),
        (r"\b(?:sells|selling|sold|sell) (?:the )?(?:best|most)\b", 3.0),
        (r"\b(?:made|makes|earned|earns|brought in|brings in|generated) (?:us )?the most\b|\btop grossing\b", 3.0),
        (r"\b(?:products?|items?|sellers?) (?:\w+ ){0,3}(?:by|in|per) (?:\w+ )?(?:revenue|sales|money)\b", 3.5),
        (r"\bsells? (?:the )?(?:most|best)\b|\bselling (?:the )?(?:most|best|well)\b|\bsold (?:the )?most\b", 3.0),
        (r"\bpopular(?:ity)?\b", 2.0),
        (r"\bwhat sells\b|\bwhich products sell\b", 2.5),
    ),
    "bought_together": cues(
        (r"\b(?:bought|purchased|ordered|sold|buy|go|goes|paired|buying) (?:\w+ )?together\b", 3.5),
        (r"\btogether\b", 2.5),
        (r"\b(?:bought|purchased|ordered|sold) (?:along )?with\b", 3.0),
        (r"\bpairs?\b|\bcombinations?\b|\bcross ?sell\w*|\bcompanions?\b|\balongside\b|\bgo(?:es)? well with\b", 2.5),
        (r"\bfrequently bought\b|\boften bought\b|\bcommonly bought\b", 3.0),
        (r"\b(?:buy|buys|get|order|pair|pairs) (?:along )?with\b|\balso (?:buy|bought|get|order)\b", 3.0),
        (r"\bwhat else (?:do|did|should|would)\b|\bgoes with\b|\bgo with\b", 2.5),
    ),
    "second_product": cues(
        (r"\bsecond (?:product|item|purchase|thing|buy|order|line)\b", 3.5),
        (r"\b(?:buy|bought|purchase|order|get) (?:next|second|after)\b", 3.0),
        (r"\bafter (?:their|the|a) first\b|\bnext purchase\b|\bfollow ?up purchase\b", 3.0),
    ),
    "cheapest_purchase": cues(
        (rf"\b(?:cheapest|smallest|lowest|least expensive|tiniest|minimum|min|lowest value) {_PURCHASE}\b", 3.5),
        (r"\bwho (?:made|placed|did|had) the (?:cheapest|smallest|lowest)\b", 3.5),
        (r"\bwho (?:bought|purchased|ordered) (?:the )?(?:cheapest|least|smallest|lowest)\b", 3.5),
    ),
    "largest_purchase": cues(
        (
            rf"\b(?:largest|biggest|highest|most expensive|priciest|maximum|max|greatest|highest value)"
            rf" (?:single )?{_PURCHASE}\b",
            3.5,
        ),
        (r"\bwho (?:made|placed|did|had) the (?:largest|biggest|highest|most expensive)\b", 3.5),
        (r"\bwho (?:bought|purchased|ordered) (?:the )?(?:most expensive|biggest|largest|priciest)\b", 3.5),
        (r"\bspent the most in (?:one|a single)\b", 3.5),
    ),
    "revenue": cues(
        (r"\brevenue\b|\bturnover\b|\btakings\b|\bincome\b|\bearnings\b|\bgross\b", 3.0),
        (
            r"\bhow much (?:did|have|has) (?:we|you|the shop|the store)"
            r" (?:make|made|earn|earned|sell|sold|take|taken)\b",
            3.0,
        ),
        (r"\baverage (?:order|basket|purchase|cart|sale)\b|\baov\b", 3.0),
        (r"\btotal sales\b|\bsales (?:in|for|during|this|last|by|per|were|was|total|figures?)\b", 2.5),
        (r"\bhow (?:did|were|are|is|was) (?:our |the )?sales\b|\bsales (?:go|goes|going|look|looking|doing)\b", 3.0),
        (r"\bhow many orders\b|\bnumber of orders\b|\border count\b", 2.5),
        (r"\bhow (?:much|well) did (?:we|you) (?:do|sell)\b|\bmoney (?:did|have) we\b", 2.5),
    ),
    "repeat_purchase_rate": cues(
        (r"\brepeat\b|\brepurchase\w*|\bretention\b", 3.0),
        (r"\breturning (?:customer|customers|buyer|buyers|shopper|shoppers|client|clients)\b", 3.0),
        (r"\bcome back\b|\bcame back\b|\bbuy again\b|\bbought again\b|\border again\b|\bordered again\b", 3.0),
        (r"\bmore than (?:one|once) (?:order|time)|\bmore than once\b|\b(?:two|2) or more orders\b", 3.0),
        (r"\bhow many (?:customers|clients|buyers|shoppers)\b", 2.5),
    ),
    "top_customers": cues(
        (
            r"\b(?:top|best|biggest|largest|most valuable|leading|vip|highest spending|big|loyal|most loyal)"
            r" (?:\d+ )?(?:customer|customers|client|clients|buyer|buyers|spender|spenders|shopper|shoppers)\b",
            3.5,
        ),
        (r"\bwho (?:spent|spends|buys|bought|orders|ordered|purchased) (?:the )?most\b", 3.5),
        (r"\b(?:customers|clients|buyers) (?:who|that) spent (?:the )?most\b|\bspent the most\b", 3.0),
        # the low end of the same ranking (rank "least")
        (r"\bwho (?:spent|spends|paid) (?:the )?(?:least|lowest|smallest)\b", 3.5),
        (r"\bspent the least\b|\bleast (?:amount|money) spent\b|\blowest spend(?:ers?|ing)?\b", 3.0),
        (
            r"\b(?:bottom|worst|smallest|lowest spending|least spending|least valuable)"
            r" (?:\d+ )?(?:customer|customers|client|clients|buyer|buyers|spender|spenders|shopper|shoppers)\b",
            3.5,
        ),
        (r"\b(?:least|lowest|smallest) spenders?\b", 3.5),
    ),
}

_BY_REVENUE = re.compile(
    r"\bmost (?:money|revenue)\b|\bgrossing\b|\b(?:in|by) \w+ revenue\b|"
    r"\b(?:by|in|per) (?:revenue|sales value|value|money|turnover|euros?|dollars?)\b|\brevenue\b|\bearn"
)
_BY_MONTH = re.compile(
    r"\b(?:by|per|each|every) month\b|\bmonthly\b|\bmonth by month\b|\bmonth over month\b|\bbreakdown\b"
)
_BY_CUSTOMER = re.compile(
    r"\bcustomers? (?:buy|bought|purchase|purchased|order|ordered|get)\b|\btheir (?:second|next|first)\b"
    r"|\bpeople (?:buy|bought)\b"
)


def insight_question(text: str) -> tuple[str | None, float]:
    """The shop_insights ``question`` the message asks, and how sure (a cue weight)."""
    canon = canonical_text(text)
    found: dict[str, float] = {}
    for question, question_cues in INSIGHT_CUES.items():
        for pattern, weight in question_cues:
            if pattern.search(canon):
                found[question] = max(found.get(question, 0.0), weight)
    if "best_sellers" in found and "revenue" in found:  # "top products by revenue": a ranking, by money
        found["best_sellers"] = max(found["best_sellers"], found.pop("revenue"))
    if not found:
        return None, 0.0
    question = max(found, key=lambda q: found[q])
    return question, found[question]


def insight_options(text: str) -> dict[str, object]:
    canon = canonical_text(text)
    return {
        "by_revenue": bool(_BY_REVENUE.search(canon)),
        "by_month": bool(_BY_MONTH.search(canon)),
        "by_customer": bool(_BY_CUSTOMER.search(canon)),
    }
