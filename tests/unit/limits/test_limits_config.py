"""The ``[limits]`` section: defaults, 0 = off, and clear errors."""

from __future__ import annotations

import pytest

from proxy.limits.config import LimitsConfig
from proxy.settings import Settings
from proxy.tenants import ConfigError, load_tenants


def test_defaults() -> None:
    limits = LimitsConfig()
    assert limits.messages_per_minute_per_visitor == 20
    assert limits.messages_per_minute_per_ip == 30
    assert limits.messages_per_minute_per_tenant == 600
    assert limits.threads_per_hour_per_ip == 30


def test_tenants_file_section(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "tenants.toml"
    path.write_text(
        '[tenants.a]\ndomains = ["a.test"]\napi_key_env = "K"\n'
        "[tenants.a.limits]\nmessages_per_minute_per_visitor = 5\nthreads_per_hour_per_ip = 0\n"
    )
    tenant = load_tenants(Settings(_env_file=None, tenants_file=path), env={"K": "sk"}).get("a")  # type: ignore[call-arg]
    assert tenant is not None
    assert tenant.config.limits.messages_per_minute_per_visitor == 5
    assert tenant.config.limits.threads_per_hour_per_ip == 0
    assert tenant.config.limits.messages_per_minute_per_ip == 30


def test_unknown_or_negative_limits_are_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "tenants.toml"
    path.write_text('[tenants.a]\ndomains = ["a.test"]\napi_key_env = "K"\n[tenants.a.limits]\nmessages_per_day = 5\n')
    with pytest.raises(ConfigError, match=r"tenant 'a': field 'limits\.messages_per_day'"):
        load_tenants(Settings(_env_file=None, tenants_file=path), env={"K": "sk"})  # type: ignore[call-arg]
    path.write_text(
        '[tenants.a]\ndomains = ["a.test"]\napi_key_env = "K"\n[tenants.a.limits]\nmessages_per_minute_per_ip = -1\n'
    )
    with pytest.raises(ConfigError, match="messages_per_minute_per_ip"):
        load_tenants(Settings(_env_file=None, tenants_file=path), env={"K": "sk"})  # type: ignore[call-arg]
