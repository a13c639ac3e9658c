"""Provider calls through a SOCKS5 proxy from the environment, against a real SOCKS5 server on
127.0.0.1 (``socks_server``): the streams over the wire client and the SDK's other calls over
either transport; ``socks5h://`` sending the provider's name to the proxy and ``socks5://``
resolving it here; the user name and password; each refusal an unavailable provider naming why;
and what the log and the doctor say of where the calls go.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from proxy.engines.base import EngineError
from proxy.engines.proxy_routes import log_route, proxy_route
from proxy.engines.wire.target import SocksHop, Target, environment_proxy
from tests.integration.engines import wire_servers
from tests.integration.engines.socks_server import IPV4, NAME, Asked, Socks5Proxy
from tests.integration.engines.test_wire_environment import (
    endpoint,
    env,
    json_origin,
    refused,
    sdk_client,
    stream,
    transport,
)
from tests.integration.engines.wire_servers import Certificate, Origin, server_tls, serving

pytestmark = pytest.mark.integration
certificate = wire_servers.certificate
__all__ = ("env", "transport")  # fixtures, imported for pytest

EVENTS = [{"n": 1}, {"n": 2}]


# -- which proxy ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"ALL_PROXY": "socks5://proxy.corp:1080"}, "socks5://proxy.corp:1080"),
        ({"all_proxy": "socks5h://u:p@proxy.corp"}, "socks5h://u:p@proxy.corp"),
        ({"HTTPS_PROXY": "SOCKS5H://proxy.corp:1080"}, "SOCKS5H://proxy.corp:1080"),
        ({"ALL_PROXY": "socks4://proxy.corp:1080"}, None),
    ],
    ids=["all-proxy", "credentials", "https-proxy", "socks4-ignored"],
)
def test_a_socks5_proxy_of_the_environment_is_used(
    env: pytest.MonkeyPatch, variables: dict[str, str], expected: str | None
) -> None:
    for name, value in variables.items():
        env.setenv(name, value)

    assert environment_proxy("https://api.example.com/v1") == (expected, None)


def test_netrc_s_credentials_are_not_sent_to_a_socks5_proxy(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "netrc").write_text("machine proxy.corp login user password s3cret\n")
    env.setenv("ALL_PROXY", "socks5h://proxy.corp:1080")

    assert environment_proxy("https://api.example.com/v1") == ("socks5h://proxy.corp:1080", None)


def test_a_target_through_a_socks5_proxy_connects_to_it_and_sends_its_own_request() -> None:
    target = Target.of("https://api.example.com/v1/x?y=1", {}, "socks5h://us%40er:p%3Ass@proxy.corp", "Basic x")
    plain = Target.of("http://api.example.com:8080/v1", {}, "socks5://proxy.corp:9050", None)

    assert (target.connect_host, target.connect_port, target.connect_tls, target.tls) == (
        "proxy.corp",
        1080,
        False,
        True,
    )
    assert target.socks == SocksHop(remote_names=True, username=b"us@er", password=b"p:ss")
    assert target.tunnel is None and b"Proxy-Authorization" not in target.head  # netrc's value is not for SOCKS
    assert target.head.startswith(b"POST /v1/x?y=1 HTTP/1.1\r\nHost: api.example.com\r\n")
    assert plain.socks == SocksHop(remote_names=False) and plain.connect_port == 9050
    assert plain.head.startswith(b"POST /v1 HTTP/1.1\r\nHost: api.example.com:8080\r\n")  # not absolute-form
    with pytest.raises(OSError, match="255 bytes at most"):
        Target.of("https://api.example.com/v1", {}, f"socks5://{'u' * 256}:p@proxy.corp", None)
    with pytest.raises(OSError, match="must be ASCII"):
        Target.of("https://api.example.com/v1", {}, "socks5://us%C3%A9r:p@proxy.corp", None)


# -- the streams, over the wire client --------------------------------------------------------------


async def test_socks5h_sends_the_provider_s_name_to_the_proxy(env: pytest.MonkeyPatch) -> None:
    """``provider.test`` resolves nowhere but in the proxy's own table."""
    origin = Origin()
    proxy = Socks5Proxy(names={"provider.test": "127.0.0.1"})
    async with serving(origin.handle) as origin_port, serving(proxy.handle) as proxy_port:
        env.setenv("ALL_PROXY", f"socks5h://127.0.0.1:{proxy_port}")
        async with endpoint(f"http://provider.test:{origin_port}/v1") as to:
            assert await stream(to) == EVENTS
            assert await stream(to) == EVENTS  # on the same connection

    assert proxy.asked == [Asked(NAME, "provider.test", origin_port)]
    assert proxy.offered == [b"\x00"]
    assert origin.heads[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: provider.test:%d" % origin_port)
    assert len(origin.heads) == 2 and origin.connections == 1


async def test_socks5_resolves_the_provider_s_name_here(env: pytest.MonkeyPatch) -> None:
    origin = Origin()
    proxy = Socks5Proxy(connect_to="127.0.0.1")  # whichever of localhost's addresses it is given
    async with serving(origin.handle) as origin_port, serving(proxy.handle) as proxy_port:
        env.setenv("ALL_PROXY", f"socks5://127.0.0.1:{proxy_port}")
        async with endpoint(f"http://localhost:{origin_port}/v1") as to:
            assert await stream(to) == EVENTS

    [asked] = proxy.asked
    assert asked.kind != NAME and asked.host in ("127.0.0.1", "::1") and asked.port == origin_port


async def test_an_https_provider_through_a_socks5_proxy_with_a_password(
    env: pytest.MonkeyPatch, certificate: Certificate, transport: str
) -> None:
    """TLS with the provider inside the proxy's connection, its certificate checked; over the wire
    client, and over httpx2 (``PROXY_PROVIDER_TRANSPORT=httpx``)."""
    env.setenv("SSL_CERT_FILE", str(certificate[0]))
    origin = Origin()
    proxy = Socks5Proxy(credentials=(b"us@er", b"p:ss"))
    async with serving(origin.handle, server_tls(certificate)) as origin_port, serving(proxy.handle) as proxy_port:
        env.setenv("HTTPS_PROXY", f"socks5h://us%40er:p%3Ass@127.0.0.1:{proxy_port}")
        async with endpoint(f"https://127.0.0.1:{origin_port}/v1", transport=transport) as to:
            assert await stream(to) == EVENTS

    assert proxy.logins == [(b"us@er", b"p:ss")]
    assert proxy.asked == [Asked(IPV4, "127.0.0.1", origin_port)]
    assert origin.heads[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")


@pytest.mark.parametrize(
    ("proxy", "credentials", "says"),
    [
        (Socks5Proxy(credentials=(b"u", b"right")), "u:wrong@", "refused the user name and password"),
        (Socks5Proxy(credentials=(b"u", b"p")), "", "may want a user name and password"),
        (Socks5Proxy(reply=2), "", "could not connect to 127.0.0.1:9 (connection not allowed by ruleset)"),
        (Socks5Proxy(), "", "to 127.0.0.1:9 (connection refused by destination host)"),  # nothing listens there
    ],
    ids=["wrong-password", "no-password", "ruleset", "target-refused"],
)
async def test_a_socks5_proxy_s_refusal_is_an_unavailable_provider(
    env: pytest.MonkeyPatch, proxy: Socks5Proxy, credentials: str, says: str
) -> None:
    async with serving(proxy.handle) as proxy_port:
        env.setenv("ALL_PROXY", f"socks5://{credentials}127.0.0.1:{proxy_port}")
        async with endpoint("http://127.0.0.1:9/v1") as to:
            error = await refused(to)

    assert (error.code, error.retryable, error.status) == ("upstream_unavailable", True, 502)
    assert f"the SOCKS5 proxy at 127.0.0.1:{proxy_port} " in str(error.__cause__)
    assert says in str(error.__cause__)


async def http_proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An HTTP proxy given what is not HTTP: it says so and closes."""
    await reader.read(1)
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()


async def test_an_http_proxy_named_as_socks5_is_said_to_be_no_socks5_proxy(env: pytest.MonkeyPatch) -> None:
    async with serving(http_proxy) as proxy_port:
        env.setenv("ALL_PROXY", f"socks5://127.0.0.1:{proxy_port}")
        async with endpoint("http://127.0.0.1:9/v1") as to:
            error = await refused(to)

    assert error.code == "upstream_unavailable"
    assert f"the proxy at 127.0.0.1:{proxy_port} did not answer as a SOCKS5 proxy" in str(error.__cause__)


async def closing_proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A SOCKS5 proxy that reads the client's greeting and closes without answering it."""
    await reader.readexactly(3)
    writer.close()


async def test_a_socks5_proxy_closing_during_its_handshake_is_an_unavailable_provider(
    env: pytest.MonkeyPatch,
) -> None:
    async with serving(closing_proxy) as proxy_port:
        env.setenv("ALL_PROXY", f"socks5h://127.0.0.1:{proxy_port}")
        async with endpoint("http://127.0.0.1:9/v1") as to:
            error = await refused(to)

    assert error.code == "upstream_unavailable"
    assert isinstance(error.__cause__, ConnectionResetError)
    assert f"the SOCKS5 proxy at 127.0.0.1:{proxy_port} closed the connection during its handshake" in str(
        error.__cause__
    )


async def test_a_silent_socks5_proxy_is_a_provider_timeout(env: pytest.MonkeyPatch) -> None:
    async with serving(wire_servers.Silent().handle) as proxy_port:
        env.setenv("ALL_PROXY", f"socks5h://127.0.0.1:{proxy_port}")
        async with endpoint("https://api.example.com/v1", connect_timeout=0.2) as to:
            error = await refused(to)

    assert (error.code, error.status) == ("upstream_timeout", 504)


# -- the SDK's other calls ---------------------------------------------------------------------------


async def test_a_socks5_proxy_carries_the_sdk_s_calls(
    env: pytest.MonkeyPatch, certificate: Certificate, transport: str
) -> None:
    """Over aiohttp's transport (which speaks no SOCKS: those calls go over httpx2's) and httpx2's."""
    env.setenv("SSL_CERT_FILE", str(certificate[0]))
    origin = json_origin()
    proxy = Socks5Proxy(credentials=(b"u", b"p"))
    async with serving(origin.handle, server_tls(certificate)) as origin_port, serving(proxy.handle) as proxy_port:
        env.setenv("ALL_PROXY", f"socks5h://u:p@127.0.0.1:{proxy_port}")
        async with sdk_client(f"https://127.0.0.1:{origin_port}/v1", transport) as client:
            assert (await client.conversations.create()).id == "conv_1"
            assert (await client.conversations.create()).id == "conv_1"

    assert proxy.asked == [Asked(IPV4, "127.0.0.1", origin_port)]  # one connection, kept
    assert proxy.logins == [(b"u", b"p")]
    assert [head.split(b"\r\n")[0] for head in origin.heads] == [b"POST /v1/conversations HTTP/1.1"] * 2


async def test_a_socks5_proxy_s_refusal_of_an_sdk_call_is_an_unavailable_provider(
    env: pytest.MonkeyPatch, transport: str
) -> None:
    from proxy.engines.assistants import AssistantsEngine
    from proxy.engines.base import AssistantProfile

    proxy = Socks5Proxy(credentials=(b"u", b"right"))
    async with serving(proxy.handle) as proxy_port:
        env.setenv("ALL_PROXY", f"socks5h://u:wrong@127.0.0.1:{proxy_port}")
        async with sdk_client("http://127.0.0.1:9/v1", transport) as client:
            engine = AssistantsEngine(client, AssistantProfile(model="m"))
            with pytest.raises(EngineError) as caught:
                await engine.create_conversation()

    assert (caught.value.code, caught.value.status) == ("upstream_unavailable", 502)
    assert proxy.logins == [(b"u", b"wrong")]


# -- what is said of it ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "said", "problem"),
    [
        ({}, "direct (no proxy in the environment)", None),
        (
            {"ALL_PROXY": "socks5h://u:secret@proxy.corp:1080"},
            "through socks5h://u:***@proxy.corp:1080 (ALL_PROXY; SOCKS5, the proxy resolves the provider's name)",
            None,
        ),
        (
            {"all_proxy": "socks5://proxy.corp:1080"},
            "through socks5://proxy.corp:1080 (all_proxy; SOCKS5, the provider's name resolved on this machine",
            None,
        ),
        ({"HTTPS_PROXY": "http://proxy.corp:3128"}, "through http://proxy.corp:3128 (HTTPS_PROXY)", None),
        (
            {"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": ".example.com"},
            "direct (NO_PROXY lists the host)",
            None,
        ),
        (
            {"ALL_PROXY": "socks4://proxy.corp:1080"},
            "direct; ALL_PROXY",
            "ALL_PROXY=socks4://proxy.corp:1080 is ignored",
        ),
        (
            {"HTTPS_PROXY": "socks4://proxy.corp:1080"},
            "through socks4://proxy.corp:1080 (HTTPS_PROXY)",
            "HTTPS_PROXY is not a proxy the provider calls can go through",
        ),
    ],
    ids=["direct", "socks5h", "socks5", "http", "no-proxy", "all-proxy-ignored", "https-proxy-unusable"],
)
def test_where_the_calls_go_is_said(
    env: pytest.MonkeyPatch, variables: dict[str, str], said: str, problem: str | None
) -> None:
    for name, value in variables.items():
        env.setenv(name, value)

    route = proxy_route("https://api.example.com/v1")

    assert said in route.describe()
    assert "secret" not in route.describe()
    assert (route.problem is None) == (problem is None)
    if problem is not None:
        assert problem in route.describe()
        assert "(http://, https://, socks5://, socks5h://)" in route.describe()
    assert route.fails == variables.get("HTTPS_PROXY", "").startswith("socks4")


def test_an_ignored_proxy_is_a_warning_in_the_log(env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    env.setenv("ALL_PROXY", "socks4://proxy.corp:1080")
    with caplog.at_level(logging.INFO, logger="proxy.engines.proxy_routes"):
        log_route("https://api.example.com/v1")
        env.setenv("ALL_PROXY", "socks5h://proxy.corp:1080")
        log_route("https://api.example.com/v1")
        env.delenv("ALL_PROXY")
        log_route("https://api.example.com/v1")

    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            "provider calls to https://api.example.com: direct; ALL_PROXY="
            "socks4://proxy.corp:1080 is ignored: not a proxy the provider calls can go through"
            " (http://, https://, socks5://, socks5h://)",
        ),
        (
            logging.INFO,
            "provider calls to https://api.example.com: through socks5h://proxy.corp:1080 (ALL_PROXY; SOCKS5,"
            " the proxy resolves the provider's name)",
        ),
    ]


async def test_the_engines_say_where_their_calls_go_as_they_are_built(
    env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    """At start-up, before any call: the app builds every tenant's engine then."""
    from proxy.engines.factory import build_engine, shared_http_client
    from proxy.settings import Settings
    from tests.support.apps import make_tenant

    env.setenv("ALL_PROXY", "socks4://proxy.corp:1080")
    settings = Settings(_env_file=None, provider_transport=transport)  # type: ignore[call-arg]
    with caplog.at_level(logging.INFO, logger="proxy.engines.proxy_routes"):
        async with shared_http_client(settings) as pool:
            for name in ("one", "two"):  # one provider: said once
                build_engine(make_tenant(name, [f"{name}.test"], engine="chat"), pool, settings)

    assert [r.getMessage() for r in caplog.records] == [
        "provider calls to https://api.openai.com: direct; ALL_PROXY=socks4://proxy.corp:1080 is ignored: not a"
        " proxy the provider calls can go through (http://, https://, socks5://, socks5h://)"
    ]
    assert caplog.records[0].levelno == logging.WARNING
