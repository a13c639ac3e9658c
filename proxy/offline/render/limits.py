"""What a follow-up asked of the answer before that the answer cannot give ("and the cheapest one?"
after the best sellers, which come without prices), said plainly with what can be asked instead."""

from __future__ import annotations

_WHAT = {
    "best_sellers": "The best sellers come from the order figures without their prices",
    "bought_together": "Those products come from the order figures without their prices",
    "second_product": "Those products come from the order figures without their prices",
    "repeat_purchase_rate": "The repeat purchase rate is one figure, not a list",
    "cheapest_purchase": "That answer is one order",
    "largest_purchase": "That answer is one order",
    "search_products": "Those are products in our catalogue, not an order",
}
_PICK = "so I can't pick the cheapest or the most expensive of them."
_TALLY = {
    "best_sellers": "and one order can hold several of them, so their orders don't add up to one number.",
    "bought_together": "and one order can hold several pairs, so their orders don't add up to one number.",
    "second_product": "and they overlap, so they don't add up to one number.",
    "repeat_purchase_rate": "so there is nothing to add up.",
    "cheapest_purchase": "so there is nothing to add up.",
    "largest_purchase": "so there is nothing to add up.",
    "search_products": "so there is nothing to add up.",
}
_INSTEAD = {
    "pick": 'Ask me about one of them ("tell me more about the first one") for its price, or ask for the cheapest'
    " purchase of a period.",
    "tally": 'For how many orders a period had and what they came to, ask for its revenue ("revenue in March").',
    "tally:search_products": 'I can tell you more about one of them ("the first one"), or find products within a'
    ' budget ("under 50 euros").',
}


def cannot(kind: str) -> str:
    """``kind`` is ``pick:<answer>`` or ``tally:<answer>`` (the tool or insight question shown before)."""
    ask, _, shown = kind.partition(":")
    what = _WHAT.get(shown, "That answer is not a list I can rank or add up")
    why = _PICK if ask == "pick" else _TALLY.get(shown, "so there is nothing to add up.")
    instead = _INSTEAD.get(kind) or _INSTEAD.get(ask, "")
    return f"{what}, {why} {instead}".strip()
