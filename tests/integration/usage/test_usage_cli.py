"""``python -m proxy usage``: the table and the budget lines, read from the real database."""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from proxy.store.db import Database
from proxy.usage.cli import register_cli, render_table, run_usage
from proxy.usage.store import UsageStore


@pytest.fixture
def names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"clia{suffix}", f"clib{suffix}"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_url: str, names: tuple[str, str]) -> None:
    a, b = names
    tenants = tmp_path / "tenants.toml"
    tenants.write_text(
        f'[tenants.{a}]\ndomains = ["{a}.test"]\napi_key_env = "CLI_TEST_KEY"\n'
        f'[tenants.{a}.budget]\ndaily_soft_tokens = 1000\ndaily_hard_tokens = 5000\nfallback_model = "gpt-4.1-nano"\n'
        f'[tenants.{b}]\ndomains = ["{b}.test"]\napi_key_env = "CLI_TEST_KEY"\n'
    )
    monkeypatch.setenv("PROXY_TENANTS_FILE", str(tenants))
    monkeypatch.setenv("CLI_TEST_KEY", "sk-test")
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("PROXY_DATA_DIR", str(tmp_path))


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["usage", *argv])


async def seed(database: Database, a: str, b: str) -> None:
    store = UsageStore(database)
    today = datetime.now(UTC).date()
    await store.add(tenant=a, day=today, model="gpt-4.1-mini", input_tokens=1200, output_tokens=300, turns=3)
    await store.add(tenant=a, day=today - timedelta(days=2), model="gpt-4.1-mini", input_tokens=10, output_tokens=5)
    await store.add(tenant=a, day=today - timedelta(days=9), model="gpt-4.1-mini", input_tokens=99, output_tokens=9)
    await store.add(tenant=b, day=today, model="llama", input_tokens=40, output_tokens=2, turns=2)


async def run(args: argparse.Namespace) -> int:
    return await anyio.to_thread.run_sync(run_usage, args)  # the CLI runs its own event loop


@pytest.mark.usefixtures("environment")
async def test_usage_table_for_one_tenant(
    database: Database, names: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = names
    await seed(database, a, b)
    assert await run(parse("--tenant", a)) == 0
    out = capsys.readouterr().out
    today = datetime.now(UTC).date()
    lines = out.splitlines()
    assert lines[0].split() == ["day", "tenant", "model", "turns", "input", "output", "total"]
    assert lines[2].split() == [today.isoformat(), a, "gpt-4.1-mini", "3", "1,200", "300", "1,500"]
    assert lines[3].split() == [(today - timedelta(days=2)).isoformat(), a, "gpt-4.1-mini", "1", "10", "5", "15"]
    assert lines[4].split() == ["all", "1", "tenant(s)", "4", "1,210", "305", "1,515"]
    assert (today - timedelta(days=9)).isoformat() not in out  # outside the default 7 days
    assert b not in out
    assert f"{a}: 1,500 tokens today (UTC), soft cap 1,000 -> gpt-4.1-nano, hard cap 5,000: fallback" in out


@pytest.mark.usefixtures("environment")
async def test_usage_days_and_all_tenants(
    database: Database, names: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = names
    await seed(database, a, b)
    assert await run(parse("--days", "1")) == 0
    out = capsys.readouterr().out
    assert f" {a} " in out and f" {b} " in out
    assert (datetime.now(UTC).date() - timedelta(days=2)).isoformat() not in out
    assert f"{b}:" not in out  # no budget, no budget line


@pytest.mark.usefixtures("environment")
async def test_usage_with_nothing_recorded(names: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(parse("--tenant", "nobody-" + names[0], "--days", "3")) == 0
    assert "no usage recorded since" in capsys.readouterr().out


def test_bad_days_and_bad_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_usage(parse("--days", "0")) == 2
    monkeypatch.setenv("PROXY_TENANTS_FILE", str(tmp_path / "missing.toml"))
    assert run_usage(parse()) == 2
    assert "configuration error" in capsys.readouterr().err


def test_render_table_aligns_numbers() -> None:
    table = render_table([("2030-01-01", "a", "m", "1", "1,000", "2", "1,002")])
    assert table.splitlines()[2].endswith("1,000       2  1,002")
