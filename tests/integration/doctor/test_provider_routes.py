"""``python -m proxy doctor --providers`` says where each tenant's provider calls go: through a
SOCKS5 proxy of the environment (a real one on 127.0.0.1, which its checks then go through),
direct past it (``NO_PROXY``), or direct with an ``ALL_PROXY`` it cannot use, which is a warning."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yarl

from proxy.simulator import SimulatorConfig, SimulatorServer
from tests.integration.engines.socks_server import IPV4, Asked, Socks5Proxy
from tests.integration.engines.wire_servers import serving
from tests.support.cli import run_main

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig()) as sim:
        yield sim


@pytest.fixture
def configured(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Two tenants on the simulator (one the doctor asks, one it has nothing to ask) and no proxy."""
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    tenants = tmp_path / "tenants.toml"
    tenants.write_text(
        "".join(
            f'[tenants.{name}]\ndomains = ["{name}.test"]\nengine = "{engine}"\napi_key_env = "SHOP_KEY"\n'
            f'base_url = "{simulator.base_url}"\n'
            for name, engine in (("asked", "responses"), ("plain", "chat"))
        )
    )
    monkeypatch.setenv("PROXY_TENANTS_FILE", str(tenants))
    monkeypatch.setenv("SHOP_KEY", "sk-doctor")
    return monkeypatch


@contextmanager
def socks_proxy(proxy: Socks5Proxy) -> Iterator[int]:
    """``proxy`` served on its own loop in a thread (the doctor runs its own)."""
    loop = asyncio.new_event_loop()
    started: asyncio.Future[int] = loop.create_future()
    stop = asyncio.Event()

    async def serve() -> None:
        async with serving(proxy.handle) as port:
            started.set_result(port)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(asyncio.wait_for(asyncio.shield(started), 10), loop).result()
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join()
        loop.close()


def verdicts(out: str) -> dict[str, tuple[str, list[str]]]:
    """Per tenant: the status and the detail's lines."""
    found: dict[str, tuple[str, list[str]]] = {}
    tenant = ""
    for line in out.splitlines():
        if "  tenant " in line:
            tenant = line.split("tenant ")[1].split(":")[0]
            found[tenant] = (line.split()[0], [])
        elif line.startswith("      ") and tenant:
            found[tenant][1].append(line.strip())
    return found


def test_a_socks5_proxy_is_named_and_carries_the_checks(
    configured: pytest.MonkeyPatch, simulator: SimulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy = Socks5Proxy(credentials=(b"u", b"secret"))
    with socks_proxy(proxy) as port:
        configured.setenv("ALL_PROXY", f"socks5h://u:secret@127.0.0.1:{port}")
        status = run_main(["doctor", "--providers"])

    out = capsys.readouterr().out
    found = verdicts(out)
    assert status == 0, out
    assert found["asked"][0] == "PASS" and found["plain"][0] == "SKIP"
    said = f"provider calls: through socks5h://u:***@127.0.0.1:{port} (ALL_PROXY; SOCKS5, the proxy resolves"
    assert all(lines[-1].startswith(said) for _, lines in found.values()), out
    assert "secret" not in out
    assert proxy.asked and set(proxy.asked) == {Asked(IPV4, "127.0.0.1", yarl.URL(simulator.base_url).port)}


def test_no_proxy_sends_the_calls_direct_past_the_proxy(
    configured: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    configured.setenv("ALL_PROXY", "socks5h://127.0.0.1:9")  # nothing listens: a call through it would fail
    configured.setenv("NO_PROXY", "127.0.0.1")

    status = run_main(["doctor", "--providers"])

    found = verdicts(capsys.readouterr().out)
    assert status == 0
    assert found["asked"] == ("PASS", [found["asked"][1][0], "provider calls: direct (NO_PROXY lists the host)"])


def test_an_all_proxy_it_cannot_use_is_a_warning(
    configured: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    configured.setenv("ALL_PROXY", "socks4://proxy.corp:1080")

    status = run_main(["doctor", "--providers"])

    out = capsys.readouterr().out
    found = verdicts(out)
    assert status == 0  # a warning: the calls do go (direct)
    assert found["asked"][0] == "WARN" and found["plain"][0] == "WARN"
    assert found["plain"][1][-1] == (
        "provider calls: direct; ALL_PROXY=socks4://proxy.corp:1080 is ignored: not a proxy the provider calls"
        " can go through (http://, https://, socks5://, socks5h://)"
    )


def test_an_https_proxy_it_cannot_use_fails(configured: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    configured.setenv("HTTP_PROXY", "socks4://proxy.corp:1080")  # the simulator's URL is http://

    status = run_main(["doctor", "--providers"])

    found = verdicts(capsys.readouterr().out)
    assert status == 1
    assert found["plain"][0] == "FAIL"
    assert "HTTP_PROXY is not a proxy the provider calls can go through" in found["plain"][1][-1]
