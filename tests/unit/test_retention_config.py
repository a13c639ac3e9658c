"""Retention settings: a tenant's own days, the process defaults for what it leaves unset."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from proxy.settings import Settings
from proxy.store.conversations import InvalidCursor, decode_cursor, encode_cursor, shorten
from proxy.store.retention import Policy, RetentionSettings
from proxy.tenants import ConfigError, load_tenants

TENANTS = """
[tenants.keeps]
domains = ["keeps.test"]
api_key_env = "KEY"

[tenants.keeps.retention]
conversations_days = 30
leads_days = 0

[tenants.defaults]
domains = ["defaults.test"]
api_key_env = "KEY"
"""


def tenants_file(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "tenants.toml"
    path.write_text(text, encoding="utf-8")
    return Settings(_env_file=None, tenants_file=path)  # type: ignore[call-arg]


def test_tenant_days_and_defaults(tmp_path: Path) -> None:
    tenants = load_tenants(tenants_file(tmp_path, TENANTS), {"KEY": "sk"})
    defaults = RetentionSettings(handoffs_days=90)
    keeps, other = tenants.get("keeps"), tenants.get("defaults")
    assert keeps and other
    assert Policy.of(keeps, defaults) == Policy("keeps", 30, 0, 90)
    assert Policy.of(other, defaults) == Policy("defaults", 365, 730, 90)


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROXY_RETENTION_CONVERSATIONS_DAYS", "14")
    monkeypatch.setenv("PROXY_RETENTION_BATCH", "100")
    settings = Settings(_env_file=None).retention  # type: ignore[call-arg]
    assert (settings.conversations_days, settings.batch) == (14, 100)


@pytest.mark.parametrize("line", ["conversations_days = -1", 'leads_days = "a year"', "forever = true"])
def test_bad_retention_is_a_config_error(tmp_path: Path, line: str) -> None:
    text = '[tenants.bad]\ndomains = ["bad.test"]\napi_key_env = "KEY"\n[tenants.bad.retention]\n' + line + "\n"
    with pytest.raises(ConfigError, match="tenant 'bad': field 'retention"):
        load_tenants(tenants_file(tmp_path, text), {"KEY": "sk"})


def test_titles_and_previews_are_cut_at_a_word() -> None:
    assert shorten("  Which   tents\nkeep out the rain?  ", 60) == "Which tents keep out the rain?"
    assert shorten("Do you ship to Norway quickly and cheaply, and how long?", 30) == "Do you ship to Norway quickly…"
    assert shorten("Do you ship to Norway quickly and cheaply, and how long?", 27) == "Do you ship to Norway…"
    assert shorten("x" * 50, 10) == "x" * 9 + "…"


def test_cursor_round_trip_and_junk() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert decode_cursor(encode_cursor(moment, "thr_abc")) == (moment, "thr_abc")
    for junk in ("", "zz", "bm90IGpzb24", encode_cursor(moment, "x")[:-3]):
        with pytest.raises(InvalidCursor):
            decode_cursor(junk)
