"""Where a URL's requests go (``Target.of``): the host as sent (IDNA, IPv6 in brackets, the
default port left out), the ``CONNECT`` for an https target through a proxy, the absolute form for
an http one, the proxy's credentials, and what is refused before anything is sent.
"""

from __future__ import annotations

import base64

import pytest

from proxy.engines.wire import Target

pytestmark = pytest.mark.integration  # with the other wire tests (no server needed here)


def basic(pair: bytes) -> bytes:
    return b"Basic " + base64.b64encode(pair)


def test_a_direct_https_target() -> None:
    target = Target.of("https://api.example.com/v1/chat/completions?api-version=1", {"Accept": "x"}, None, None)

    assert (target.connect_host, target.connect_port, target.connect_tls, target.tunnel) == (
        "api.example.com", 443, True, None,
    )  # fmt: skip
    assert target.head == (
        b"POST /v1/chat/completions?api-version=1 HTTP/1.1\r\nHost: api.example.com\r\nAccept: x\r\n"
    )


def test_an_ipv6_host_is_bracketed_where_it_is_written_and_bare_where_it_is_connected() -> None:
    target = Target.of("https://[::1]:8443/v1", {}, "https://[::2]:3128", None)

    assert (target.host, target.connect_host, target.connect_port, target.connect_tls) == ("::1", "::2", 3128, True)
    assert target.tunnel == b"CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n"
    assert target.head.startswith(b"POST /v1 HTTP/1.1\r\nHost: [::1]:8443\r\n")


def test_an_international_host_name_is_sent_in_its_idna_form() -> None:
    target = Target.of("https://пример.рф/v1", {}, "http://proxy.corp:3128", None)

    assert target.host == "xn--e1afmkfd.xn--p1ai" and target.key[1] == target.host
    assert target.tunnel == b"CONNECT xn--e1afmkfd.xn--p1ai:443 HTTP/1.1\r\nHost: xn--e1afmkfd.xn--p1ai:443\r\n\r\n"
    assert b"\r\nHost: xn--e1afmkfd.xn--p1ai\r\n" in target.head


def test_an_http_target_through_a_proxy_is_asked_for_without_its_credentials_or_fragment() -> None:
    target = Target.of("http://user:pw@provider.test:8080/v1/chat?x=1#part", {}, "http://proxy.corp:3128", None)

    assert (target.connect_host, target.connect_port, target.tunnel) == ("proxy.corp", 3128, None)
    assert target.head.startswith(
        b"POST http://provider.test:8080/v1/chat?x=1 HTTP/1.1\r\nHost: provider.test:8080\r\n"
    )


def test_the_proxy_s_credentials_are_decoded_for_basic_and_an_explicit_value_wins() -> None:
    from_url = Target.of("https://api.example.com/v1", {}, "https://us%40er:p%3Ass@proxy.corp", None)
    explicit = Target.of("https://api.example.com/v1", {}, "https://u:p@proxy.corp", "Bearer t")

    assert (from_url.connect_port, from_url.connect_tls) == (443, True)
    assert b"\r\nProxy-Authorization: " + basic(b"us@er:p:ss") + b"\r\n" in (from_url.tunnel or b"")
    assert b"\r\nProxy-Authorization: Bearer t\r\n" in (explicit.tunnel or b"")
    assert b"Proxy-Authorization" not in from_url.head + explicit.head


@pytest.mark.parametrize(
    ("url", "proxy", "headers", "refusal"),
    [
        ("ftp://files.example.com/x", None, {}, "only http and https URLs"),
        ("http:///v1", None, {}, "only http and https URLs"),
        ("https://api.example.com/v1", "socks4://proxy.corp:1080", {}, "only http, https, socks5, socks5h proxies"),
        ("https://api.example.com/v1", None, {"X-Evil": "a\r\nHost: b"}, "cannot be sent"),
        ("https://api.example.com/v1", None, {"X:Evil": "a"}, "cannot be sent"),
        ("https://api.example.com/v1", None, {"": "a"}, "cannot be sent"),
    ],
    ids=["scheme", "no-host", "proxy-scheme", "crlf-value", "colon-name", "empty-name"],
)
def test_what_cannot_be_sent_is_refused_before_anything_is(
    url: str, proxy: str | None, headers: dict[str, str], refusal: str
) -> None:
    with pytest.raises(OSError, match=refusal):
        Target.of(url, headers, proxy, None)
