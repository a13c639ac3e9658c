"""The doctor against the real app, directly and behind broken reverse proxies of our own.

Each broken proxy breaks one thing; the doctor must fail exactly the checks that thing breaks and
pass the others. The provider is the simulator under a tenant called ``demo``, so the doctor asks
for a paced reply (a delta every 0.2 s), whose spread over time a buffering proxy cannot fake.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from proxy.app import create_app
from proxy.doctor.checks import PACED_MESSAGE, Report, run_checks
from proxy.doctor.cli import register_cli, run_doctor
from proxy.simulator import ServerThread, SimulatorConfig, SimulatorServer
from tests.integration.doctor.broken_proxy import BrokenProxy
from tests.support.apps import directory, make_settings, make_tenant
from tests.support.scripted_engine import scripted_tools

ORIGIN = "https://doctor.test"
IDLE = 1.2  # seconds of silence asked of the simulator; the app pings every 0.3 s

ALL_CHECKS = {
    "widget",
    "cors_threads",
    "create_thread",
    "cors_messages",
    "stream_headers",
    "compression",
    "unbuffered",
    "heartbeat",
}


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(model="echo")) as sim:
        yield sim


@pytest.fixture(scope="module")
def app_server(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory, simulator: SimulatorServer
) -> Iterator[ServerThread]:
    tenants = directory(
        make_tenant("demo", ["doctor.test", "127.0.0.1"], base_url=simulator.base_url),
        make_tenant("doctorplain", ["plain.doctor.test"], base_url=simulator.base_url),
    )
    settings = make_settings(pg_url, Path(tmp_path_factory.mktemp("doctor")), heartbeat_interval=0.3)
    app = create_app(settings, tenants=tenants, tools=scripted_tools())
    with ServerThread(app, proxy_headers=False) as server:
        yield server


@pytest.fixture(scope="module")
def behind(app_server: ServerThread) -> Iterator[dict[str, str]]:
    """One reverse proxy per fault (and a healthy one), each on its own port."""
    modes = {
        "healthy": (),
        "buffer": ("buffer",),
        "gzip": ("gzip",),
        "strip_cors": ("strip_cors",),
        "widget_html": ("widget_html",),
        "cache": ("cache",),
    }
    servers = {name: ServerThread(BrokenProxy(app_server.url, *faults)).start() for name, faults in modes.items()}
    try:
        yield {name: server.url for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()


def statuses(report: Report) -> dict[str, str]:
    return {r.key: r.status for r in report.results}


def failed(report: Report) -> set[str]:
    return {r.key for r in report.results if r.status == "FAIL"}


async def test_the_app_itself_passes_every_check(app_server: ServerThread) -> None:
    report = await run_checks(app_server.url, ORIGIN, idle=IDLE)
    assert report.demo and report.message == PACED_MESSAGE
    assert statuses(report) == dict.fromkeys(ALL_CHECKS, "PASS"), report.results
    assert report.ok


async def test_a_healthy_reverse_proxy_passes_every_check(behind: dict[str, str]) -> None:
    report = await run_checks(behind["healthy"], ORIGIN, idle=IDLE)
    assert statuses(report) == dict.fromkeys(ALL_CHECKS, "PASS"), report.results


async def test_buffering_proxy_fails_streaming_and_heartbeats(behind: dict[str, str]) -> None:
    report = await run_checks(behind["buffer"], ORIGIN, idle=IDLE)
    assert failed(report) == {"unbuffered", "heartbeat"}, report.results
    assert "buffered" in report.get("unbuffered").detail  # type: ignore[union-attr]


async def test_compressing_proxy_fails_compression_and_streaming(behind: dict[str, str]) -> None:
    report = await run_checks(behind["gzip"], ORIGIN)
    assert failed(report) == {"compression", "unbuffered"}, report.results
    assert report.get("heartbeat").status == "SKIP"  # type: ignore[union-attr]


async def test_proxy_dropping_cors_headers_fails_the_cors_checks(behind: dict[str, str]) -> None:
    report = await run_checks(behind["strip_cors"], ORIGIN)
    assert failed(report) == {"cors_threads", "create_thread", "cors_messages"}, report.results


async def test_proxy_mangling_the_widget_script_fails_the_widget_check(behind: dict[str, str]) -> None:
    report = await run_checks(behind["widget_html"], ORIGIN)
    assert failed(report) == {"widget"}, report.results
    detail = report.get("widget").detail  # type: ignore[union-attr]
    assert "text/html" in detail and "ETag" in detail


async def test_cacheable_stream_fails_the_header_check(behind: dict[str, str]) -> None:
    report = await run_checks(behind["cache"], ORIGIN)
    assert failed(report) == {"stream_headers"}, report.results


async def test_an_origin_that_is_no_tenant_fails_cors_and_skips_the_rest(app_server: ServerThread) -> None:
    report = await run_checks(app_server.url, "https://stranger.test")
    assert statuses(report) == {
        "widget": "PASS",
        "cors_threads": "FAIL",
        "create_thread": "FAIL",
        "cors_messages": "SKIP",
        "unbuffered": "SKIP",
    }


async def test_default_origin_and_a_non_demo_tenant_get_a_plain_question(app_server: ServerThread) -> None:
    assert (await run_checks(app_server.url, paced=False, message="[[reply:ok]]")).origin == app_server.url
    report = await run_checks(app_server.url, "https://plain.doctor.test")
    assert not report.demo and "[[" not in report.message
    assert failed(report) == set()  # a quick echo may be too short to judge: PASS or WARN, never FAIL


def cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["doctor", *argv])


async def test_cli_prints_failures_with_their_fixes(behind: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code = await anyio.to_thread.run_sync(run_doctor, cli_args(behind["gzip"], "--origin", ORIGIN))
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  stream is not compressed" in out
    assert "PASS  CORS preflight for POST /v1/threads" in out
    fixes = out.split("How to fix:")[1]
    for needle in ("nginx:", "gzip off;", "Caddy:", "encode @compressible", "Cloudflare:", "Compression Rules"):
        assert needle in fixes


async def test_cli_exit_zero_and_json(app_server: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    code = await anyio.to_thread.run_sync(run_doctor, cli_args(app_server.url, "--origin", ORIGIN))
    assert code == 0
    assert "all checks passed" in capsys.readouterr().out
    code = await anyio.to_thread.run_sync(run_doctor, cli_args(app_server.url, "--origin", ORIGIN, "--json"))
    import json

    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["ok"] and {c["key"] for c in data["checks"]} >= {"widget", "unbuffered"}
