"""Questions about the shop's own policies (returns, shipping, payment ...), which no tool of ours
answers."""

from __future__ import annotations

import re

from proxy.offline.intents.vocabulary import canonical_text

_POLICY = re.compile(
    r"\b(?:return policy|returns?|refunds?|exchanges?|shipping|ship|postage|delivery|deliver|payment|pay|"
    r"paypal|warranty|guarantee|opening hours|store hours|open on|discounts?|coupons?|vouchers?|promo codes?|"
    r"phone number|your address|your email|your number|where are you located|located|size guide|gift cards?)\b"
)


def policy_topic(text: str) -> str | None:
    """What a question about the shop's own policies is about (returns, shipping, payment ...)."""
    match = _POLICY.search(canonical_text(text))
    if match is None:
        return None
    word = match.group(0)
    return next((topic for topic, words in _POLICY_TOPICS.items() if word.split()[0] in words), word)


_POLICY_TOPICS = {
    "returns and refunds": {"return", "returns", "refund", "refunds", "exchange", "exchanges"},
    "shipping": {"shipping", "ship", "postage", "delivery", "deliver"},
    "payment": {"payment", "pay", "paypal"},
    "warranty": {"warranty", "guarantee"},
    "opening hours": {"opening", "store", "open"},
    "discounts": {"discount", "discounts", "coupon", "coupons", "voucher", "vouchers", "promo"},
    "contact details": {"phone", "your", "where", "located"},
}
