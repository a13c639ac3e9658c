from __future__ import annotations

import pytest

from proxy.leads.fields import LeadFields, clean_page_url, normalize_email, parse_lead
from proxy.tools.registry import ToolError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ann@example.com", "ann@example.com"),
        ("  Ann.Lee+shop@Sub.Example.CO.uk ", "Ann.Lee+shop@sub.example.co.uk"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("jo@bücher.de", "jo@xn--bcher-kva.de"),
    ],
)
def test_valid_addresses(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "ann",
        "ann@",
        "@example.com",
        "ann@example",
        "ann@@example.com",
        "an n@example.com",
        "ann@-x.com",
        "ann..lee@example.com",
        ".ann@example.com",
        "ann@example.123",
        "a" * 65 + "@example.com",
        "ann@" + "x" * 250 + ".com",
        "ann@exa_mple.com",
    ],
)
def test_invalid_addresses(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_email(raw)


def test_missing_fields_use_the_old_words_in_the_old_order() -> None:
    with pytest.raises(ToolError, match=r"^Missing name$"):
        parse_lead({}, message_required=True)
    with pytest.raises(ToolError, match=r"^Missing email$"):
        parse_lead({"name": "Ann"}, message_required=True)
    with pytest.raises(ToolError, match=r"^Missing message$"):
        parse_lead({"name": "Ann", "email": "a@b.co"}, message_required=True)
    lead = parse_lead({"name": " Ann ", "email": "A@B.co"}, message_required=False)
    assert lead == LeadFields(name="Ann", email="A@b.co", message="")


def test_multiline_message_is_kept_but_names_are_one_line() -> None:
    lead = parse_lead({"name": "Ann", "email": "a@b.co", "message": "line 1\nline 2"}, message_required=True)
    assert lead.message == "line 1\nline 2"
    with pytest.raises(ToolError, match="control characters"):
        parse_lead({"name": "Ann\nLee", "email": "a@b.co"}, message_required=False)


def test_content_hash_ignores_case_of_name_and_address() -> None:
    a = parse_lead({"name": "Ann", "email": "ANN@example.com", "message": "hi"}, message_required=True)
    b = parse_lead({"name": "ann", "email": "ann@EXAMPLE.com", "message": "hi"}, message_required=True)
    c = parse_lead({"name": "ann", "email": "ann@example.com", "message": "hello"}, message_required=True)
    assert a.content_hash() == b.content_hash() != c.content_hash()


def test_page_url_is_only_kept_when_plausible() -> None:
    assert clean_page_url("https://shop.test/p?q=1") == "https://shop.test/p?q=1"
    for junk in (None, 42, "javascript:alert(1)", "ftp://x", "https://x/\n/y", "https://" + "x" * 3000):
        assert clean_page_url(junk) is None
