"""``python -m proxy doctor --providers``: each tenant's provider asked what it offers, from the
configuration on this machine, against simulated servers with and without the Conversations API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.simulator import SimulatorConfig, SimulatorServer
from tests.support.cli import run_main

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bare() -> Iterator[SimulatorServer]:
    """A server with neither the Conversations API nor stored responses (as Ollama)."""
    with SimulatorServer(SimulatorConfig(conversations_api=False, store_responses=False)) as sim:
        yield sim


def tenants_file(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "tenants.toml"
    blocks = [
        ("found", 'engine = "responses"'),
        ("strict", 'engine = "responses"\ncontext = "conversations"'),
        ("chained", 'engine = "responses"\ncontext = "previous_response"'),
        ("plain", 'engine = "chat"'),
    ]
    path.write_text(
        "\n".join(
            f'[tenants.{name}]\ndomains = ["{name}.test"]\n{body}\napi_key_env = "SHOP_KEY"\nbase_url = "{base_url}"\n'
            for name, body in blocks
        )
    )
    return path


def test_providers_lacking_what_a_tenant_needs_fail_with_the_setting_to_change(
    bare: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("PROXY_TENANTS_FILE", str(tenants_file(tmp_path, bare.base_url)))
    monkeypatch.setenv("SHOP_KEY", "sk-doctor")

    status = run_main(["doctor", "--providers"])

    out = capsys.readouterr().out
    lines = out.splitlines()

    def verdict(tenant: str) -> tuple[str, str]:
        at = next(i for i, line in enumerate(lines) if f"tenant {tenant}:" in line)
        return lines[at].split()[0], lines[at + 1].strip()

    assert status == 1
    assert verdict("found") == ("PASS", "context: history, found out (Conversations API: no; stored responses: no)")
    status_strict, detail_strict = verdict("strict")
    assert status_strict == "FAIL" and "has no Conversations API (POST /conversations answered 404)" in detail_strict
    assert 'Set context = "auto"' in detail_strict
    status_chained, detail_chained = verdict("chained")
    assert status_chained == "FAIL" and "does not store responses" in detail_chained
    assert verdict("plain")[0] == "SKIP"
    assert "3 tenant(s) need a change" not in out and "2 tenant(s) need a change" in out


def test_the_doctor_wants_a_url_or_providers(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(["doctor"]) == 2
    assert "--providers" in capsys.readouterr().err
