"""The environment's proxy for the provider calls: which proxy ``HTTP(S)_PROXY`` / ``NO_PROXY``
name for a URL (an ``https://`` proxy included, which aiohttp's lookup drops), its credentials;
through the engines' request path (``StreamEndpoint`` over ``ProviderPool``), an ``https://``
proxy from the environment carrying the streams, ``NO_PROXY`` sending them direct, and the
``EngineError`` each failure of a proxy or a connect ends as; and the same for the SDK's other
calls over that pool (conversations, the assistants engine), with the proxy's credentials from
its URL or netrc.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from proxy.engines.assistants import AssistantsEngine
from proxy.engines.base import AssistantProfile, EngineError
from proxy.engines.factory import shared_http_client
from proxy.engines.provider_http import ProviderPool, StreamEndpoint
from proxy.engines.wire.target import environment_proxy
from proxy.settings import Settings
from tests.integration.engines import wire_servers
from tests.integration.engines.wire_servers import (
    Certificate,
    ConnectProxy,
    Origin,
    Silent,
    failure,
    server_tls,
    serving,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:proxy.engines.assistants"),
    pytest.mark.filterwarnings("ignore:The Assistants API is deprecated:DeprecationWarning"),
]
certificate = wire_servers.certificate  # the test certificate for 127.0.0.1 (a fixture)

PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy", "all_proxy")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """The environment without proxies, and with an empty netrc."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("")
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    yield monkeypatch


# -- which proxy, for which URL --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "url", "expected"),
    [
        ({"HTTPS_PROXY": "https://proxy.corp:8443"}, "https://api.example.com/v1", "https://proxy.corp:8443"),
        ({"HTTPS_PROXY": "http://proxy.corp:3128"}, "https://api.example.com/v1", "http://proxy.corp:3128"),
        ({"https_proxy": "proxy.corp:3128"}, "https://api.example.com/v1", "http://proxy.corp:3128"),
        ({"HTTP_PROXY": "http://proxy.corp:3128"}, "http://api.example.com/v1", "http://proxy.corp:3128"),
        ({"HTTP_PROXY": "http://proxy.corp:3128"}, "https://api.example.com/v1", None),
        ({"HTTPS_PROXY": "http://proxy.corp:3128"}, "http://api.example.com/v1", None),
        ({"HTTPS_PROXY": "http://proxy.corp:3128"}, "https:///v1", None),  # Target.of refuses it
        ({"ALL_PROXY": "https://proxy.corp:8443"}, "https://api.example.com/v1", "https://proxy.corp:8443"),
        ({"all_proxy": "proxy.corp:3128"}, "http://api.example.com/v1", "http://proxy.corp:3128"),
        (
            {"ALL_PROXY": "https://all.corp:8443", "HTTPS_PROXY": "https://proxy.corp:8443"},
            "https://api.example.com/v1",
            "https://proxy.corp:8443",
        ),
        ({"ALL_PROXY": "socks4://proxy.corp:1080"}, "https://api.example.com/v1", None),  # said at start-up
    ],
    ids=[
        "https-proxy",
        "http-proxy",
        "no-scheme",
        "http-target",
        "http-proxy-only",
        "https-proxy-only",
        "no-host",
        "all-proxy",
        "all-proxy-no-scheme",
        "scheme-before-all",
        "all-proxy-socks",
    ],
)
def test_the_proxy_of_the_url_s_scheme(
    env: pytest.MonkeyPatch, variables: dict[str, str], url: str, expected: str | None
) -> None:
    for name, value in variables.items():
        env.setenv(name, value)

    assert environment_proxy(url) == (expected, None)


@pytest.mark.parametrize(
    ("no_proxy", "url", "direct"),
    [
        ("api.example.com", "https://api.example.com/v1", True),
        ("API.Example.com", "https://api.example.com/v1", True),
        ("example.com", "https://api.example.com/v1", True),
        (".example.com", "https://api.example.com/v1", True),
        ("other.org, example.com", "https://api.example.com/v1", True),
        ("*", "https://api.example.com/v1", True),
        ("api.example.com:443", "https://api.example.com/v1", True),
        ("api.example.com:8443", "https://api.example.com/v1", False),
        ("ample.com", "https://api.example.com/v1", False),
        ("127.0.0.1", "https://127.0.0.1:9/v1", True),
        ("127.0.0.1", "https://api.example.com/v1", False),
    ],
)
def test_no_proxy_sends_the_hosts_it_lists_direct(
    env: pytest.MonkeyPatch, no_proxy: str, url: str, direct: bool
) -> None:
    env.setenv("HTTPS_PROXY", "https://proxy.corp:8443")
    env.setenv("NO_PROXY", no_proxy)

    assert environment_proxy(url) == ((None, None) if direct else ("https://proxy.corp:8443", None))


def test_netrc_credentials_for_the_proxy_when_its_url_has_none(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine proxy.corp login user password s3cret\n")
    env.setenv("HTTPS_PROXY", "https://proxy.corp:8443")

    proxy, auth = environment_proxy("https://api.example.com/v1")

    assert (proxy, auth) == ("https://proxy.corp:8443", "Basic " + base64.b64encode(b"user:s3cret").decode())
    env.setenv("HTTPS_PROXY", "https://u:p@proxy.corp:8443")
    assert environment_proxy("https://api.example.com/v1") == ("https://u:p@proxy.corp:8443", None)  # the URL's


# -- through the engines' request path -------------------------------------------------------------


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    """``PROXY_PROVIDER_TRANSPORT``: the SDK's calls over aiohttp or httpx2."""
    return str(request.param)


def header(head: bytes, name: str) -> bytes | None:
    """A request head's field, its name in any case."""
    for line in head.split(b"\r\n")[1:]:
        field, _, value = line.partition(b":")
        if field.strip().lower() == name.lower().encode():
            return value.strip()
    return None


@asynccontextmanager
async def endpoint(
    base_url: str, *, connect_timeout: float = 5.0, transport: str = "aiohttp"
) -> AsyncIterator[StreamEndpoint]:
    """The streamed requests of an SDK client over the process's pool, as the engines send them
    (over the wire client; with ``transport="httpx"``, over httpx2)."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        provider_transport=transport,
        provider_connect_timeout=connect_timeout,
        provider_read_timeout=5.0,
    )
    async with shared_http_client(settings) as pool:
        assert isinstance(pool, ProviderPool) == (transport == "aiohttp")
        timeout = httpx2.Timeout(5.0, connect=connect_timeout)
        client = openai.AsyncOpenAI(
            base_url=base_url, api_key="sk-wire", http_client=pool, max_retries=0, timeout=timeout
        )
        yield StreamEndpoint.for_client(client)


async def stream(to: StreamEndpoint) -> list[Any]:
    events = await to.open("chat/completions", {"model": "m", "stream": True})
    try:
        return [event async for event in events]
    finally:
        await events.close()


async def refused(to: StreamEndpoint) -> EngineError:
    error = await failure(to.open("chat/completions", {"model": "m", "stream": True}))
    assert isinstance(error, EngineError), repr(error)
    return error


async def test_an_https_proxy_from_the_environment_carries_the_streams(
    env: pytest.MonkeyPatch, certificate: Certificate, transport: str
) -> None:
    env.setenv("SSL_CERT_FILE", str(certificate[0]))  # how an operator makes the SDK trust a proxy's CA
    origin, proxy = Origin(), ConnectProxy()
    async with (
        serving(origin.handle, server_tls(certificate)) as origin_port,
        serving(proxy.handle, server_tls(certificate)) as proxy_port,
    ):
        env.setenv("HTTPS_PROXY", f"https://u:p@127.0.0.1:{proxy_port}")
        async with endpoint(f"https://127.0.0.1:{origin_port}/v1", transport=transport) as to:
            assert await stream(to) == [{"n": 1}, {"n": 2}]
            assert await stream(to) == [{"n": 1}, {"n": 2}]

    [asked] = proxy.asked
    assert asked.startswith(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\n" % origin_port)
    assert header(asked, "Proxy-Authorization") == b"Basic dTpw"
    assert origin.heads[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert header(origin.heads[0], "Authorization") == b"Bearer sk-wire"


async def test_no_proxy_sends_the_streams_past_the_environment_s_proxy(
    env: pytest.MonkeyPatch, certificate: Certificate, transport: str
) -> None:
    env.setenv("SSL_CERT_FILE", str(certificate[0]))
    origin, proxy = Origin(), ConnectProxy()
    async with (
        serving(origin.handle, server_tls(certificate)) as origin_port,
        serving(proxy.handle, server_tls(certificate)) as proxy_port,
    ):
        env.setenv("HTTPS_PROXY", f"https://127.0.0.1:{proxy_port}")
        env.setenv("NO_PROXY", "localhost,127.0.0.1")
        async with endpoint(f"https://127.0.0.1:{origin_port}/v1", transport=transport) as to:
            assert await stream(to) == [{"n": 1}, {"n": 2}]

    assert not proxy.asked and len(origin.heads) == 1


@pytest.mark.parametrize("status", [407, 403, 502])
async def test_a_proxy_refusing_the_tunnel_is_an_unavailable_provider(
    env: pytest.MonkeyPatch, certificate: Certificate, status: int
) -> None:
    env.setenv("SSL_CERT_FILE", str(certificate[0]))
    proxy = ConnectProxy(answer=b"HTTP/1.1 %d No\r\nContent-Length: 0\r\n\r\n" % status)
    async with serving(proxy.handle, server_tls(certificate)) as proxy_port:
        env.setenv("HTTPS_PROXY", f"https://127.0.0.1:{proxy_port}")
        async with endpoint("https://127.0.0.1:9/v1") as to:
            error = await refused(to)

    assert (error.code, error.retryable, error.status) == ("upstream_unavailable", True, 502)
    assert f"the proxy refused the tunnel to 127.0.0.1 ({status})" in str(error.__cause__)


async def test_a_certificate_the_sdk_s_context_rejects_is_an_unavailable_provider(
    env: pytest.MonkeyPatch, certificate: Certificate
) -> None:
    """No ``SSL_CERT_FILE``: the system's CAs, which do not know the test certificate."""
    origin = Origin()
    async with (
        serving(origin.handle, server_tls(certificate)) as origin_port,
        endpoint(f"https://127.0.0.1:{origin_port}/v1") as to,
    ):
        error = await refused(to)

    assert (error.code, error.retryable, error.status) == ("upstream_unavailable", True, 502)
    assert "CERTIFICATE_VERIFY_FAILED" in str(error.__cause__)
    assert not origin.heads


async def test_a_connect_timeout_is_a_provider_timeout(env: pytest.MonkeyPatch) -> None:
    provider = Silent()
    async with (
        serving(provider.handle) as port,
        endpoint(f"https://127.0.0.1:{port}/v1", connect_timeout=0.2) as to,
    ):
        error = await refused(to)

    assert (error.code, error.retryable, error.status) == ("upstream_timeout", True, 504)


# -- the SDK's other calls over the same pool ------------------------------------------------------

CREATED = b'{"id": "conv_1", "object": "conversation", "created_at": 1, "metadata": {}}'


def json_origin() -> Origin:
    """The provider answering each of the SDK's calls with a created object."""
    return Origin(body=CREATED, content_type=b"application/json")


@asynccontextmanager
async def sdk_client(base_url: str, transport: str) -> AsyncIterator[openai.AsyncOpenAI]:
    """An SDK client over the process's pool, as the factory builds them (made inside the test, once
    its environment is set, as the app makes it at start-up)."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        provider_transport=transport,
        provider_connect_timeout=5.0,
        provider_read_timeout=5.0,
    )
    async with shared_http_client(settings) as pool:
        yield openai.AsyncOpenAI(base_url=base_url, api_key="sk-wire", http_client=pool, max_retries=0)


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "ALL_PROXY"])
async def test_an_https_proxy_from_the_environment_carries_the_sdk_s_calls(
    env: pytest.MonkeyPatch, certificate: Certificate, transport: str, variable: str
) -> None:
    """A conversation created, and a thread for the assistants engine: the SDK's calls, not the
    streams (aiohttp's own lookup of the environment dropped an ``https://`` proxy)."""
    env.setenv("SSL_CERT_FILE", str(certificate[0]))
    origin, proxy = json_origin(), ConnectProxy()
    async with (
        serving(origin.handle, server_tls(certificate)) as origin_port,
        serving(proxy.handle, server_tls(certificate)) as proxy_port,
    ):
        env.setenv(variable, f"https://u:p@127.0.0.1:{proxy_port}")
        async with sdk_client(f"https://127.0.0.1:{origin_port}/v1", transport) as client:
            assert (await client.conversations.create()).id == "conv_1"
            engine = AssistantsEngine(client, AssistantProfile(model="m"))
            assert await engine.create_conversation() == "conv_1"

    [asked] = proxy.asked  # one tunnel, kept for the second call
    assert asked.startswith(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\n" % origin_port)
    assert header(asked, "Proxy-Authorization") == b"Basic dTpw"
    assert [head.split(b"\r\n")[0] for head in origin.heads] == [
        b"POST /v1/conversations HTTP/1.1",
        b"POST /v1/threads HTTP/1.1",
    ]
    assert all(header(head, "Authorization") == b"Bearer sk-wire" for head in origin.heads)
    assert not any(header(head, "Proxy-Authorization") for head in origin.heads)


async def test_netrc_credentials_for_the_proxy_go_with_the_sdk_s_calls(
    env: pytest.MonkeyPatch, certificate: Certificate, transport: str, tmp_path: Path
) -> None:
    env.setenv("SSL_CERT_FILE", str(certificate[0]))
    (tmp_path / "netrc").write_text("machine 127.0.0.1 login user password s3cret\n")
    origin, proxy = json_origin(), ConnectProxy()
    async with (
        serving(origin.handle, server_tls(certificate)) as origin_port,
        serving(proxy.handle, server_tls(certificate)) as proxy_port,
    ):
        env.setenv("HTTPS_PROXY", f"https://127.0.0.1:{proxy_port}")
        async with sdk_client(f"https://127.0.0.1:{origin_port}/v1", transport) as client:
            assert (await client.conversations.create()).id == "conv_1"

    [asked] = proxy.asked
    assert header(asked, "Proxy-Authorization") == b"Basic " + base64.b64encode(b"user:s3cret")


async def test_no_proxy_sends_the_sdk_s_calls_past_the_environment_s_proxy(
    env: pytest.MonkeyPatch, certificate: Certificate, transport: str
) -> None:
    env.setenv("SSL_CERT_FILE", str(certificate[0]))
    origin, proxy = json_origin(), ConnectProxy()
    async with (
        serving(origin.handle, server_tls(certificate)) as origin_port,
        serving(proxy.handle, server_tls(certificate)) as proxy_port,
    ):
        env.setenv("HTTPS_PROXY", f"https://127.0.0.1:{proxy_port}")
        env.setenv("NO_PROXY", "localhost,127.0.0.1")
        async with sdk_client(f"https://127.0.0.1:{origin_port}/v1", transport) as client:
            assert (await client.conversations.create()).id == "conv_1"

    assert not proxy.asked and len(origin.heads) == 1


async def test_a_proxy_refusing_the_sdk_s_tunnel_is_an_unavailable_provider(
    env: pytest.MonkeyPatch, certificate: Certificate, transport: str
) -> None:
    env.setenv("SSL_CERT_FILE", str(certificate[0]))
    proxy = ConnectProxy(answer=b"HTTP/1.1 407 No\r\nContent-Length: 0\r\n\r\n")
    async with serving(proxy.handle, server_tls(certificate)) as proxy_port:
        env.setenv("HTTPS_PROXY", f"https://127.0.0.1:{proxy_port}")
        async with sdk_client("https://127.0.0.1:9/v1", transport) as client:
            engine = AssistantsEngine(client, AssistantProfile(model="m"))
            with pytest.raises(EngineError) as caught:
                await engine.create_conversation()

    assert (caught.value.code, caught.value.status) == ("upstream_unavailable", 502)
    assert len(proxy.asked) == 1
