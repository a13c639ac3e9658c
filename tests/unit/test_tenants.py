"""Tenant configuration: the tenants file, the old env arrays, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.app import check_tools, default_tools
from proxy.engines.factory import profile_for
from proxy.settings import Settings
from proxy.tenants import ConfigError, load_tenants, normalize_host


def settings(**env: str) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("https://WWW.Shop.com:8443/path?q=1", "shop.com"),
        ("http://localhost:5173", "localhost"),
        ("shop.com", "shop.com"),
        ("https://www.example.co.uk", "example.co.uk"),
        ("null", None),
        ("", None),
        ("http://[::1", None),
    ],
)
def test_normalize_host(raw: str, host: str | None) -> None:
    assert normalize_host(raw) == host


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tenants.toml"
    path.write_text(text)
    return path


GOOD = """
[tenants.acme]
domains = ["acme.test", "*.acme-shops.test"]
engine = "chat"
model = "gpt-4.1-mini"
instructions = "Be brief."
api_key_env = "ACME_KEY"
base_url = "http://llm.internal/v1"
client_key_envs = ["ACME_CLIENT"]
lead_recipients = ["sales@acme.test"]

[tenants.bolt]
domains = ["www.bolt.test"]
api_key_env = "BOLT_KEY"
"""


def test_tenants_file(tmp_path: Path) -> None:
    env = {"ACME_KEY": "sk-acme", "ACME_CLIENT": "ck-acme", "BOLT_KEY": "sk-bolt"}
    tenants = load_tenants(settings(PROXY_TENANTS_FILE=str(write(tmp_path, GOOD))), env)
    acme, bolt = tenants.get("acme"), tenants.get("bolt")
    assert acme and bolt
    assert (acme.api_key, acme.base_url, acme.config.engine) == ("sk-acme", "http://llm.internal/v1", "chat")
    assert tenants.by_host("acme.test") is acme
    assert tenants.by_host("x.acme-shops.test") is acme
    assert tenants.by_host("acme-shops.test") is None
    assert tenants.by_host("bolt.test") is bolt  # "www." is dropped on both sides
    assert tenants.by_client_key("ck-acme") is acme
    assert tenants.by_client_key("ck-other") is None
    assert bolt.config.engine == "responses"


def test_openai_base_url_is_the_default_base(tmp_path: Path) -> None:
    env = {"ACME_KEY": "k", "ACME_CLIENT": "c", "BOLT_KEY": "k"}
    tenants = load_tenants(
        settings(PROXY_TENANTS_FILE=str(write(tmp_path, GOOD)), OPENAI_BASE_URL="https://azure.test/v1"), env
    )
    assert tenants.get("bolt").base_url == "https://azure.test/v1"  # type: ignore[union-attr]
    assert tenants.get("acme").base_url == "http://llm.internal/v1"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        (
            GOOD,
            {"ACME_CLIENT": "c", "BOLT_KEY": "k"},
            "tenant 'acme': field 'api_key_env': environment variable ACME_KEY",
        ),
        (GOOD, {"ACME_KEY": "k", "BOLT_KEY": "k"}, "tenant 'acme': field 'client_key_envs': ACME_CLIENT"),
        ('[tenants.x]\ndomains = ["not a host"]\napi_key_env="K"', {"K": "k"}, "tenant 'x': field 'domains'"),
        ('[tenants.x]\ndomains = []\napi_key_env="K"', {"K": "k"}, "tenant 'x': field 'domains'"),
        (
            '[tenants.x]\ndomains = ["a.test"]\nengine = "gpt"\napi_key_env="K"',
            {"K": "k"},
            "tenant 'x': field 'engine'",
        ),
        ('[tenants.x]\ndomains = ["a.test"]\napi_key = "sk-inline"', {}, "tenant 'x': field 'api_key'"),
        (
            '[tenants.x]\ndomains = ["a.test"]\napi_key_env="K"\n[tenants.y]\ndomains = ["A.test"]\napi_key_env="K"',
            {"K": "k"},
            "tenant 'y': field 'domains': a.test already belongs to 'x'",
        ),
        ("not toml [", {}, "not valid TOML"),
        ("[other]\nx = 1", {}, "declares no [tenants.NAME] table"),
    ],
)
def test_broken_config_names_tenant_and_field(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_tenants(settings(PROXY_TENANTS_FILE=str(write(tmp_path, text))), env)
    assert message in str(error.value)


def test_old_env_arrays() -> None:
    old = settings(
        DOMAINS='["localhost", "www.yourdomain.com"]',
        OPENAI_API_KEYS='["sk-one", "sk-two"]',
        ASSISTANT_IDS='["asst_1", "asst_2"]',
        EMAIL_TO='["a@x.test", "b@y.test"]',
    )
    tenants = load_tenants(old, {})
    local, yours = tenants.get("localhost"), tenants.get("yourdomain.com")
    assert local and yours
    assert (local.api_key, local.config.assistant_id, local.config.lead_recipients) == (
        "sk-one",
        "asst_1",
        ["a@x.test"],
    )
    assert (yours.api_key, yours.config.assistant_id, yours.config.lead_recipients) == (
        "sk-two",
        "asst_2",
        ["b@y.test"],
    )
    assert tenants.by_host("yourdomain.com") is yours


@pytest.mark.parametrize("email_to", ['["all@x.test"]', "all@x.test"])
def test_single_email_to_applies_to_all(email_to: str) -> None:
    old = settings(DOMAINS='["a.test", "b.test"]', OPENAI_API_KEYS='["k1", "k2"]', EMAIL_TO=email_to)
    tenants = load_tenants(old, {})
    assert [t.config.lead_recipients for t in tenants] == [["all@x.test"], ["all@x.test"]]


def test_old_env_arrays_must_line_up() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEYS has 1 entries but DOMAINS has 2"):
        load_tenants(settings(DOMAINS='["a.test", "b.test"]', OPENAI_API_KEYS='["k1"]'), {})


def test_no_tenants_at_all() -> None:
    with pytest.raises(ConfigError, match="no tenants"):
        load_tenants(settings(), {})


def test_simulator_stands_in_for_missing_keys(tmp_path: Path) -> None:
    text = '[tenants.demo]\ndomains = ["localhost"]\napi_key_env = "UNSET_KEY"'
    tenants = load_tenants(
        settings(PROXY_TENANTS_FILE=str(write(tmp_path, text)), PROXY_SIMULATOR_URL="http://127.0.0.1:9/v1"), {}
    )
    demo = tenants.get("demo")
    assert demo and demo.base_url == "http://127.0.0.1:9/v1"


def test_cors_regex_matches_tenant_origins_only(tmp_path: Path) -> None:
    import re

    env = {"ACME_KEY": "k", "ACME_CLIENT": "c", "BOLT_KEY": "k"}
    tenants = load_tenants(settings(PROXY_TENANTS_FILE=str(write(tmp_path, GOOD))), env)
    pattern = re.compile(tenants.cors_origin_regex() or "")
    for origin in [
        "https://acme.test",
        "http://www.acme.test:8080",
        "https://a.b.acme-shops.test",
        "https://bolt.test",
    ]:
        assert pattern.fullmatch(origin), origin
    for origin in ["https://evil.test", "https://acme.test.evil.test", "https://acme-shops.test", "https://xacme.test"]:
        assert not pattern.fullmatch(origin), origin


def _responses_tenant(tmp_path: Path, extra: str = "", engine: str = "responses") -> Path:
    return write(
        tmp_path,
        f'[tenants.shop]\ndomains = ["shop.test"]\nengine = "{engine}"\napi_key_env = "SHOP_KEY"\n{extra}\n',
    )


@pytest.mark.parametrize("context", ["auto", "conversations", "previous_response", "history"])
def test_the_context_mode_is_read_from_the_tenant(tmp_path: Path, context: str) -> None:
    path = _responses_tenant(tmp_path, f'context = "{context}"')
    tenants = load_tenants(settings(PROXY_TENANTS_FILE=str(path)), env={"SHOP_KEY": "sk-1"})
    assert profile_for(tenants.tenants["shop"].config).context == context


def test_tenants_without_a_context_mode_take_the_process_default(tmp_path: Path) -> None:
    path = _responses_tenant(tmp_path)
    default = load_tenants(settings(PROXY_TENANTS_FILE=str(path)), env={"SHOP_KEY": "sk-1"})
    chosen = load_tenants(
        settings(PROXY_TENANTS_FILE=str(path), PROXY_RESPONSES_CONTEXT="history"), env={"SHOP_KEY": "sk-1"}
    )
    assert profile_for(default.tenants["shop"].config).context == "auto"
    assert profile_for(chosen.tenants["shop"].config).context == "history"


def test_a_context_mode_on_another_engine_is_a_config_error(tmp_path: Path) -> None:
    path = _responses_tenant(tmp_path, 'context = "history"', engine="chat")
    with pytest.raises(ConfigError) as caught:
        load_tenants(settings(PROXY_TENANTS_FILE=str(path)), env={"SHOP_KEY": "sk-1"})
    assert "tenant 'shop': field 'context'" in str(caught.value)
    assert "only the responses engine has context modes" in str(caught.value)


def test_history_mode_without_a_history_window_is_a_config_error(tmp_path: Path) -> None:
    path = _responses_tenant(tmp_path, 'history_window = 0\ncontext = "history"')
    with pytest.raises(ConfigError) as caught:
        load_tenants(settings(PROXY_TENANTS_FILE=str(path)), env={"SHOP_KEY": "sk-1"})
    assert "set history_window above 0" in str(caught.value)


def test_an_unknown_context_mode_is_a_config_error(tmp_path: Path) -> None:
    path = _responses_tenant(tmp_path, 'context = "threads"')
    with pytest.raises(ConfigError) as caught:
        load_tenants(settings(PROXY_TENANTS_FILE=str(path)), env={"SHOP_KEY": "sk-1"})
    assert "field 'context'" in str(caught.value)


def test_the_history_default_with_no_window_is_a_config_error(tmp_path: Path) -> None:
    path = _responses_tenant(tmp_path, "history_window = 0")
    with pytest.raises(ConfigError) as caught:
        load_tenants(settings(PROXY_TENANTS_FILE=str(path), PROXY_RESPONSES_CONTEXT="history"), env={"SHOP_KEY": "k"})
    assert "tenant 'shop': field 'history_window'" in str(caught.value)


def test_old_tenants_get_send_email_and_any_tenant_may_list_it(tmp_path: Path) -> None:
    """The old assistants' one function, with the old argument names, for old and new configurations."""
    tools = default_tools()
    old = load_tenants(settings(DOMAINS='["old.test"]', OPENAI_API_KEYS='["sk-old"]'), {})
    text = '[tenants.new]\ndomains = ["new.test"]\napi_key_env = "K"\ntools = ["capture_lead", "sendEmail"]\n'
    new = load_tenants(settings(PROXY_TENANTS_FILE=str(write(tmp_path, text))), {"K": "sk-new"})
    for directory in (old, new):
        check_tools(directory, tools)  # raises for a tool the product does not have
    [old_tenant], [new_tenant] = list(old), list(new)
    assert old_tenant.config.tools == ["sendEmail"]
    [schema] = [s for s in tools.subset(new_tenant.config.tools).responses_schemas() if s["name"] == "sendEmail"]
    assert schema["parameters"]["required"] == ["name", "email", "message"]
    assert set(schema["parameters"]["properties"]) == {"name", "email", "message"}
