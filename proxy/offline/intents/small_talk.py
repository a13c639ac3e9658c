"""Small talk: greetings, thanks, goodbyes, "how are you", acknowledgements, and questions about
the assistant itself ("what can you do", "are you a bot"). These are intents of their own."""

from __future__ import annotations

import re

from proxy.offline.intents.vocabulary import canonical_text

_GREETING = re.compile(
    r"^(?:hi|hello|hey|hallo|howdy|hiya|yo|greetings|good (?:morning|afternoon|evening|day)|moin|hej|hola"
    r"|bonjour)\b"
)
_THANKS = re.compile(
    r"\b(?:thanks|thank you|thank u|thx|ty|cheers|much appreciated|appreciate it|great thanks|perfect|awesome|"
    r"that helps|helpful|danke|merci|gracias)\b"
)
_BYE = re.compile(r"\b(?:bye|goodbye|good bye|see you|see ya|later|ciao|farewell|that s all|thats all|that is all)\b")
_CAPABILITIES = re.compile(
    r"\bwhat (?:can|do) (?:you|u) do\b|\bwhat (?:can|could) (?:you|u) help\b|\bhow can (?:you|u) help\b|"
    r"\bwho are (?:you|u)\b|\bwhat are (?:you|u)\b|"
    r"\bhow does this work\b|\bwhat do you know\b|^help\b|\bcan you help\b|\bhelp me\b|\bwhat is this\b|\bhow are you\b"
)
# "Are you a bot?": read before the capabilities, so _CAPABILITIES need not cover it.
_IDENTITY = re.compile(
    r"\bare (?:you|u) (?:a |an )?(?:real |actual )?(?:bot|robot|ai|human|real|person|machine|people)\b"
)
_HOW_ARE_YOU = re.compile(r"\bhow (?:are|r) (?:you|u)\b|\bhow s it going\b|\bhow do you do\b")
# Questions about the world outside the shop, which no tool of a shop answers ("what's the weather in
# Paris?"): said so, rather than searched for in the catalogue.
_OFF_TOPIC = re.compile(
    r"\b(?:what|how) s the weather\b|\bweather (?:like|forecast|today|tomorrow)\b|\bis it (?:going to )?(?:rain|snow)"
    r"|\btell me a joke\b|\b(?:latest|today s) news\b|\bwho won the\b|\bmeaning of life\b"
)
_ACK = re.compile(
    r"^(?:ok|okay|k|yes|yeah|yep|no|nope|sure|cool|nice|great|fine|alright|lol|haha|hmm|ah|oh|i see|got it|right)"
    r"(?: (?:ok|okay|thanks|then|cool|great|lol))*$"
)


def identity_question(text: str) -> bool:
    """ "Are you a bot?", "are you a real person?": questions about the assistant, not requests."""
    return bool(_IDENTITY.search(canonical_text(text)))


def small_talk(text: str) -> str | None:
    """``greeting``, ``thanks``, ``goodbye``, ``how_are_you``, ``ack``, ``capabilities`` or
    ``off_topic`` for messages that are only that."""
    canon = canonical_text(text)
    words = canon.split()
    if _IDENTITY.search(canon) and len(words) <= 10:
        return "capabilities"
    if _HOW_ARE_YOU.search(canon) and len(words) <= 6:
        return "how_are_you"
    if _ACK.match(canon.strip()):
        return "ack"
    if _CAPABILITIES.search(canon) and len(words) <= 10:
        return "capabilities"
    if _THANKS.search(canon) and len(words) <= 8:
        return "thanks"
    if _BYE.search(canon) and len(words) <= 6:
        return "goodbye"
    if _GREETING.search(canon) and len(words) <= 6:
        return "greeting"
    if _OFF_TOPIC.search(canon):
        return "off_topic"
    return None
