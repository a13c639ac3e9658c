"""Which address a request is counted under: the peer, or a trusted proxy's X-Forwarded-For."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.limits.client_ip import client_ip, parse_ip
from proxy.limits.settings import LimitSettings, TrustedProxies
from proxy.settings import Settings


def scope(peer: str | None, *xff: str) -> dict[str, Any]:
    return {
        "type": "http",
        "client": (peer, 50000) if peer is not None else None,
        "headers": [(b"x-forwarded-for", value.encode()) for value in xff],
    }


TRUSTED = TrustedProxies.parse("10.0.0.0/8, 192.0.2.7, 2001:db8:ffff::/48")


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_ip(scope("198.51.100.4", "203.0.113.9"), TrustedProxies()) == "198.51.100.4"


def test_spoofed_header_from_an_untrusted_peer_is_ignored() -> None:
    assert client_ip(scope("198.51.100.4", "1.1.1.1, 10.0.0.1"), TRUSTED) == "198.51.100.4"


def test_trusted_peer_hands_over_to_the_address_it_saw() -> None:
    assert client_ip(scope("10.1.2.3", "203.0.113.9"), TRUSTED) == "203.0.113.9"


def test_walks_from_the_right_skipping_trusted_hops_only() -> None:
    # the client put 1.1.1.1 in front; our edge (192.0.2.7) and our balancer (10.0.0.5) appended theirs
    request = scope("10.0.0.5", "1.1.1.1, 203.0.113.9, 192.0.2.7")
    assert client_ip(request, TRUSTED) == "203.0.113.9"


def test_repeated_headers_are_one_list_in_order() -> None:
    assert client_ip(scope("10.0.0.5", "1.1.1.1", "203.0.113.9, 10.9.9.9"), TRUSTED) == "203.0.113.9"


def test_all_hops_trusted_gives_the_leftmost() -> None:
    assert client_ip(scope("10.0.0.5", "10.0.0.7, 10.0.0.6"), TRUSTED) == "10.0.0.7"


def test_trusted_peer_without_header_is_itself() -> None:
    assert client_ip(scope("10.0.0.5"), TRUSTED) == "10.0.0.5"


def test_garbage_written_where_an_address_belongs_stops_at_the_last_known_hop() -> None:
    assert client_ip(scope("10.0.0.5", "203.0.113.9, unknown"), TRUSTED) == "10.0.0.5"
    assert client_ip(scope("10.0.0.5", "unknown, 10.0.0.8"), TRUSTED) == "10.0.0.8"


def test_ipv6_peers_hops_and_cidrs() -> None:
    assert client_ip(scope("2001:db8:ffff::1", "2001:DB8:0:1::42"), TRUSTED) == "2001:db8:0:1::42"
    assert client_ip(scope("2001:db8:fffe::1", "203.0.113.9"), TRUSTED) == "2001:db8:fffe::1"
    assert client_ip(scope("10.0.0.1", "[2001:db8::9]:4711"), TRUSTED) == "2001:db8::9"


def test_ipv4_mapped_ipv6_is_ipv4_for_peers_and_trust() -> None:
    assert client_ip(scope("::ffff:10.0.0.5", "::ffff:203.0.113.9"), TRUSTED) == "203.0.113.9"
    assert client_ip(scope("::ffff:198.51.100.4", "1.1.1.1"), TRUSTED) == "198.51.100.4"


def test_ports_and_quotes_in_entries() -> None:
    assert client_ip(scope("10.0.0.5", '"203.0.113.9:1234"'), TRUSTED) == "203.0.113.9"


def test_unix_socket_peer_is_trusted_only_when_configured() -> None:
    assert client_ip(scope(None, "203.0.113.9"), TRUSTED) == "unknown"
    assert client_ip(scope(None, "203.0.113.9"), TrustedProxies.parse("unix")) == "203.0.113.9"


def test_non_ip_peer_names_are_kept_as_they_are() -> None:
    assert client_ip(scope("testclient", "203.0.113.9"), TRUSTED) == "testclient"


def test_accepts_a_request_object_and_plain_strings_for_trust() -> None:
    class Request:
        def __init__(self, s: dict[str, Any]) -> None:
            self.scope = s

    assert client_ip(Request(scope("192.0.2.7", "203.0.113.9")), "192.0.2.7") == "203.0.113.9"
    assert client_ip(scope("192.0.2.7", "203.0.113.9"), ["192.0.2.0/24"]) == "203.0.113.9"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("1.2.3.4", "1.2.3.4"), ("1.2.3.4:80", "1.2.3.4"), ("[::1]:80", "::1"), ("fe80::1%eth0", "fe80::1"), ("", None)],
)
def test_parse_ip(text: str, parsed: str | None) -> None:
    result = parse_ip(text)
    assert (str(result) if result else None) == parsed


def test_settings_parse_trusted_proxies_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROXY_TRUSTED_PROXIES", " 10.0.0.0/8 ,::1, unix,")
    settings = Settings(_env_file=None).limits  # type: ignore[call-arg]
    assert "10.200.0.1" in settings.trusted_proxies
    assert "::1" in settings.trusted_proxies
    assert "11.0.0.1" not in settings.trusted_proxies
    assert settings.trusted_proxies.unix


def test_settings_reject_a_bad_trusted_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROXY_TRUSTED_PROXIES", "10.0.0.0/8, nginx.local")
    with pytest.raises(ValueError, match=r"nginx\.local"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_settings_defaults() -> None:
    settings = LimitSettings()
    assert settings.enabled and settings.redis_url is None and not settings.trusted_proxies


def test_the_limiter_works_the_address_out_once_per_request_and_per_trust() -> None:
    from proxy.limits.limiter import RateLimiter

    request = scope("10.1.2.3", "203.0.113.9")
    trusting = RateLimiter(None, trusted_proxies=TRUSTED)
    assert trusting.client_ip(request) == "203.0.113.9"
    request["headers"] = []  # the answer is kept for this request: later checks agree with the first
    assert trusting.client_ip(request) == "203.0.113.9"
    assert RateLimiter(None).client_ip(request) == "10.1.2.3"  # another limiter trusts nobody


def test_the_limiter_keeps_addresses_per_peer_header_and_trust() -> None:
    """Requests from one peer with other X-Forwarded-For chains, or under changed trust, get their own answer."""
    from proxy.limits.limiter import RateLimiter

    limiter = RateLimiter(None, trusted_proxies=TRUSTED)
    cases = [
        (scope("10.1.2.3", "203.0.113.9"), "203.0.113.9"),
        (scope("10.1.2.3", "198.51.100.4"), "198.51.100.4"),
        (scope("10.1.2.3", "198.51.100.4", "203.0.113.1, 10.9.9.9"), "203.0.113.1"),
        (scope("10.1.2.3"), "10.1.2.3"),
        (scope("203.0.113.50", "198.51.100.4"), "203.0.113.50"),  # spoofed: the peer is not trusted
        (scope("2001:db8:ffff::1", "2001:db8:1::5"), "2001:db8:1::5"),
        (scope(None, "198.51.100.4"), "unknown"),  # a Unix socket, not trusted
    ]
    for _ in range(2):  # the second time round from what the limiter kept
        for request, expected in cases:
            assert limiter.client_ip(request) == expected
    limiter.trusted_proxies = TrustedProxies.parse("unix")
    assert limiter.client_ip(scope("10.1.2.3", "203.0.113.9")) == "10.1.2.3"
    assert limiter.client_ip(scope(None, "198.51.100.4")) == "198.51.100.4"


def test_a_long_forwarded_header_is_resolved_but_not_kept() -> None:
    from proxy.limits.limiter import FORWARDED_KEPT_BYTES, RateLimiter

    limiter = RateLimiter(None, trusted_proxies=TRUSTED)
    padding = ", ".join(["198.51.100.1"] * (FORWARDED_KEPT_BYTES // 10))
    assert limiter.client_ip(scope("10.1.2.3", f"{padding}, 203.0.113.9, 10.0.0.1")) == "203.0.113.9"
    assert limiter.client_ip(scope("10.1.2.3", "203.0.113.5")) == "203.0.113.5"
    assert len(limiter._addresses) == 1
