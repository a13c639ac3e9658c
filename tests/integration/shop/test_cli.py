"""The shop commands, run the way ``python -m proxy`` runs them (in-process, own event loop)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.identity import verify_identity_token
from proxy.shop.cli import register_cli
from proxy.shop.demo_data import DemoSize
from proxy.simulator import ServerThread
from tests.support.stripe_fake import FakeStripe

pytestmark = pytest.mark.integration
SECRET = "cli-identity-secret-long-enough-for-hs256"


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[tuple[FakeStripe, str]]:
    fake = FakeStripe("rk_test_cli_key_0000000000")
    fake.load_demo(size=DemoSize(products=12, customers=20, invoices=60))
    with ServerThread(fake) as server:
        yield fake, server.url


@pytest.fixture
def env(pg_url: str, stripe_server: tuple[FakeStripe, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tenants = tmp_path / "tenants.toml"
    tenants.write_text(
        f"""
[tenants.cli-demo]
domains = ["cli-demo.example"]
identity_secret_env = "CLI_IDENTITY_SECRET"
shop = {{ source = "demo" }}

[tenants.cli-stripe]
domains = ["cli-stripe.example"]
shop = {{ source = "stripe", stripe_key_env = "CLI_STRIPE_KEY", stripe_api_base = "{stripe_server[1]}" }}
""",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("PROXY_TENANTS_FILE", str(tenants))
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("PROXY_SIMULATOR_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CLI_IDENTITY_SECRET", SECRET)
    monkeypatch.setenv("CLI_STRIPE_KEY", stripe_server[0].api_key)


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="proxy")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def test_seed_then_call_tools_as_different_visitors(env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("seed-demo", "--tenant", "cli-demo", "--small") == 0
    assert "200 customers" in capsys.readouterr().out

    assert (
        run(
            "tools",
            "call",
            "search_products",
            "--tenant",
            "cli-demo",
            "--args",
            '{"query": "espresso machine"}',
            "--as",
            "anonymous",
        )
        == 0
    )
    found = json.loads(capsys.readouterr().out)
    assert "Espresso Machine" in found["products"][0]["name"]

    assert (
        run(
            "tools",
            "call",
            "shop_insights",
            "--tenant",
            "cli-demo",
            "--args",
            '{"question": "revenue"}',
            "--as",
            "anonymous",
        )
        == 1
    )
    assert "Not allowed" in capsys.readouterr().out
    assert (
        run("tools", "call", "shop_insights", "--tenant", "cli-demo", "--args", '{"question": "repeat_purchase_rate"}')
        == 0
    )
    assert json.loads(capsys.readouterr().out)["customers_with_orders"] > 0

    assert run("tools", "list") == 0
    listed = capsys.readouterr().out
    assert all(
        name in listed
        for name in ("search_products", "get_product", "find_customer", "customer_orders", "shop_insights")
    )


def test_sync_stripe_prints_a_summary_and_runs_incrementally(env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("sync", "stripe", "--tenant", "cli-stripe") == 0
    out = capsys.readouterr().out
    assert "(full)" in out and "invoices" in out and "documents:" in out
    assert run("sync", "stripe", "--tenant", "cli-stripe") == 0
    assert "(incremental)" in capsys.readouterr().out


def test_errors_are_one_clear_line(
    env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLI_STRIPE_KEY", "rk_test_not_the_right_one_0000")
    assert run("sync", "stripe", "--tenant", "cli-stripe") == 1
    assert "401" in capsys.readouterr().err
    assert run("sync", "stripe", "--tenant", "nobody") == 1
    assert "unknown tenant 'nobody'" in capsys.readouterr().err
    assert run("sync", "stripe", "--tenant", "cli-demo") == 1
    assert "not Stripe" in capsys.readouterr().err


def test_identity_token_is_accepted_by_the_verifier(env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("identity-token", "--tenant", "cli-demo", "--sub", "42", "--email", "ada@example.com") == 0
    visitor = verify_identity_token(capsys.readouterr().out.strip(), secret=SECRET, tenant="cli-demo")
    assert (visitor.user_id, visitor.email, visitor.kind) == ("42", "ada@example.com", "identified")
