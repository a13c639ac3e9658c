"""The words a search is about: content words of whole sentences, typo distance, corrections."""

from __future__ import annotations

import pytest

from proxy.shop.price_filters import Filters
from proxy.shop.query_words import Vocabulary, content_words, within_one_edit


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("do you have wireless headphones under $100?", ["wireless", "headphones"]),
        ("wireless headphones", ["wireless", "headphones"]),
        ("Waterproof jacket under 150 EUR?", ["waterproof", "jacket"]),
        ("any cheap hiking backpacks between 50 and 80 euros, please", ["hiking", "backpacks"]),
        ("I'm looking for something to sharpen my kitchen knives", ["sharpen", "kitchen", "knives"]),
        ("what's the price of the espresso machine in USD", ["espresso", "machine"]),
        ("1000 piece jigsaw for 20€ or 25 dollars", ["piece", "jigsaw"]),
        ("Is there a yoga mat, a YOGA MAT!", ["yoga", "mat"]),
        ("hedphones", ["hedphones"]),
        ("noise-cancelling headphones", ["noise", "cancelling", "headphones"]),
        ("what products do you have?", []),
        ("$100", []),
    ],
)
def test_content_words_keep_only_what_names_a_product(query: str, words: list[str]) -> None:
    assert content_words(query) == words


@pytest.mark.parametrize(
    ("a", "b", "close"),
    [
        ("headphon", "hedphon", True),  # a letter missing
        ("waterprof", "waterproof", True),  # a letter too few
        ("expresso", "espresso", True),  # a letter replaced
        ("jakcet", "jacket", True),  # neighbours swapped
        ("jacket", "jacket", True),
        ("jacket", "jackets", True),
        ("jacket", "racket", True),
        ("jacket", "jackal", False),
        ("jacket", "jack", False),
        ("abc", "bca", False),
        ("espresso", "epressso", False),
    ],
)
def test_within_one_edit(a: str, b: str, close: bool) -> None:
    assert within_one_edit(a, b) is close
    assert within_one_edit(b, a) is close


def test_vocabulary_corrects_typos_to_the_shops_own_words() -> None:
    vocab = Vocabulary(["headphon", "wireless", "waterproof", "jacket", "espresso", "mat", "map", "usb-c", "20000"])
    assert "usb-c" not in vocab and "20000" not in vocab and len(vocab) == 7  # only words can be misspelt
    assert vocab.corrections("hedphon") == ["headphon"]
    assert vocab.corrections("waterprof") == ["waterproof"]
    assert vocab.corrections("expresso") == ["espresso"]
    assert vocab.corrections("jackt") == ["jacket"]
    assert vocab.corrections("wirelless") == ["wireless"]
    assert vocab.corrections("jacket") == []  # known words stay as they are
    assert vocab.corrections("mop") == []  # too short to guess a replaced letter
    assert Vocabulary(["case", "bank", "back", "mat"]).corrections("cse") == ["case"]  # a missing one will do
    assert Vocabulary(["case", "bank", "back", "mat"]).corrections("bak") == ["back", "bank"]
    assert Vocabulary(["case", "bank", "back", "mat"]).corrections("ca") == []
    assert vocab.corrections("snowboard") == []


def test_filters_say_what_was_given_and_read_as_a_phrase() -> None:
    assert Filters("usd", None, 100.0).given() == {"currency": "USD", "max_price": 100}
    assert Filters("usd", None, 100.0).phrase() == " at or under 100.00 USD"
    assert Filters("eur", 50.0, 80.5).phrase() == " between 50.00 and 80.50 EUR"
    assert Filters(None, 20.0, None).phrase() == " at or above 20.00"
    assert Filters("jpy", None, 1500.0).phrase() == " at or under 1500 JPY"
    assert Filters("eur").phrase() == " in EUR" and Filters().given() == {}


def test_price_bounds_in_minor_units_round_inwards() -> None:
    from decimal import ROUND_CEILING, ROUND_FLOOR

    assert Filters("eur").minor(5.5, ROUND_FLOOR) == 550
    assert Filters("eur").minor(20.005, ROUND_CEILING) == 2001  # 20.00 is below the bound
    assert Filters("eur").minor(99.999, ROUND_FLOOR) == 9999  # 100.00 is above it
    assert Filters("jpy").minor(1500.7, ROUND_FLOOR) == 1500
    assert Filters().minor(100.0, ROUND_FLOOR) is None  # no currency: compared in major units
