from __future__ import annotations

import pytest

from proxy.leads.handoff import handoff_requested, source_of


@pytest.mark.parametrize(
    "text",
    [
        "Can I talk to a human?",
        "i want to speak with a real person please",
        "Let me chat with someone",
        "Is there a live agent?",
        "connect me to your support team",
        "I need human support",
        "Kann ich mit einem Mitarbeiter sprechen?",
        "Je voudrais parler à un conseiller",
        "quiero hablar con una persona",
    ],
)
def test_explicit_requests(text: str) -> None:
    reason = handoff_requested(text, [])
    assert reason is not None and source_of(reason) == "request"


@pytest.mark.parametrize(
    "text",
    [
        "What are your opening hours?",
        "I don't need to talk to a person, just tell me the price",
        "no need to speak to a human",
        "Is this product made by humans?",
    ],
)
def test_not_requests(text: str) -> None:
    assert handoff_requested(text, []) is None


def test_keywords_match_whole_words_any_case_and_spacing() -> None:
    keywords = ["refund", "cancel my order"]
    assert handoff_requested("I want a REFUND.", keywords) == 'the visitor wrote the keyword "refund"'
    assert handoff_requested("please cancel   my\norder", keywords) == 'the visitor wrote the keyword "cancel my order"'
    assert handoff_requested("refundable tickets?", keywords) is None
    assert source_of(handoff_requested("refund", keywords) or "") == "keyword"


def test_explicit_detection_can_be_turned_off() -> None:
    assert handoff_requested("talk to a human", [], explicit=False) is None
    assert handoff_requested("talk to a human", ["human"], explicit=False) is not None
