"""Right after ``python -m proxy demo``, with nothing configured, the one-off commands work."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.demo import DEMO_TENANTS
from proxy.demo_files import IDENTITY_SECRET_ENV, ensure_secrets, write_tenants_file
from proxy.identity import verify_identity_token
from tests.support.cli import run_main

pytestmark = pytest.mark.integration


@pytest.fixture
def after_demo(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A folder where `demo` ran (its .data files), and an environment that configures nothing.

    The commands run in this process point ``PROXY_TENANTS_FILE`` at the demo's file and load its
    secrets into the environment, as they do for a shell: the environment is put back afterwards."""
    saved = dict(os.environ)
    data = tmp_path / ".data"
    data.mkdir()
    write_tenants_file(data, DEMO_TENANTS)
    secrets = ensure_secrets(data)
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("PROXY_TENANTS_FILE", "PROXY_DATA_DIR", "DOMAINS", "OPENAI_API_KEY", "PROXY_SIMULATOR_URL", *secrets):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", pg_url)  # the test database rather than a second embedded one
    yield secrets
    os.environ.clear()
    os.environ.update(saved)


def test_identity_token_and_usage_find_the_demo_tenant(
    after_demo: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["identity-token", "--tenant", "demo", "--sub", "cus_demo00179", "--email", "anna.hall@example.com"]
    assert run_main(argv) == 0
    token = capsys.readouterr().out.strip()
    visitor = verify_identity_token(token, secret=after_demo[IDENTITY_SECRET_ENV], tenant="demo")
    assert visitor.email == "anna.hall@example.com" and visitor.kind == "identified"
    assert run_main(["usage", "--tenant", "demo"]) == 0
    assert "configuration error" not in capsys.readouterr().err


def test_without_the_demo_files_the_commands_say_what_is_missing(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("PROXY_TENANTS_FILE", "PROXY_DATA_DIR", "DOMAINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    assert run_main(["usage"]) == 2
    assert "no tenants" in capsys.readouterr().err
