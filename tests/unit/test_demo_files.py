"""The demo's files in the data folder: its tenant, its secrets, and how other commands find them."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from proxy.demo import DEMO_TENANTS, welcome
from proxy.demo_files import (
    CLIENT_KEY_ENV,
    IDENTITY_SECRET_ENV,
    ensure_secrets,
    load_secrets,
    secrets_path,
    tenants_path,
    use_demo_files,
    write_tenants_file,
)
from proxy.settings import Settings
from proxy.shop import demo_catalog
from proxy.tenants import ConfigError, load_tenants
from proxy.widget.demo_pages import SHOP_QUESTIONS

EARLIER = """\
# The demo's tenant: the pages served by this machine. Copy and edit for your own sites.
[tenants.demo]
domains = ["localhost", "127.0.0.1"]
engine = "responses"
model = "gpt-4.1-mini"
api_key_env = "OPENAI_API_KEY"
instructions = \"\"\"You are the assistant of Northwind Outfitters, an outdoor gear shop.
Answer briefly and truthfully. Use search_products for questions about products and prices,
shop_insights for questions about sales, and capture_lead when a visitor wants to be contacted.\"\"\"
tools = ["search_products", "get_product", "find_customer", "customer_orders", "shop_insights",
         "capture_lead", "escalate_to_human"]
lead_recipients = ["sales@northwind.example"]

[tenants.demo.shop]
source = "demo"

[tenants.demo.widget]
title = "Northwind assistant"
primary_color = "#1f5a66"
avatar_url = "/demo/avatar.svg"
greeting = "Hi! Ask me about our gear, prices or your order."
suggested_questions = ["Do you have a waterproof jacket under 150 EUR?", "What are your best sellers?"]
"""


def settings(data_dir: Path, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, **values)  # type: ignore[call-arg]


def test_secrets_are_generated_once_and_private(tmp_path: Path) -> None:
    first = ensure_secrets(tmp_path)
    assert set(first) == {CLIENT_KEY_ENV, IDENTITY_SECRET_ENV}
    assert first[CLIENT_KEY_ENV].startswith("ck_demo_") and len(first[IDENTITY_SECRET_ENV]) >= 32
    assert stat.S_IMODE(secrets_path(tmp_path).stat().st_mode) == 0o600
    assert ensure_secrets(tmp_path) == first  # the next start keeps them


def test_a_missing_secret_is_added_and_the_others_kept(tmp_path: Path) -> None:
    secrets_path(tmp_path).write_text(f"{CLIENT_KEY_ENV}=ck_mine\n", encoding="utf-8")
    values = ensure_secrets(tmp_path)
    assert values[CLIENT_KEY_ENV] == "ck_mine" and values[IDENTITY_SECRET_ENV]
    assert stat.S_IMODE(secrets_path(tmp_path).stat().st_mode) == 0o600


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    env = {CLIENT_KEY_ENV: "ck_from_env"}
    values = load_secrets(tmp_path, env)
    assert values[CLIENT_KEY_ENV] == "ck_from_env" and env[IDENTITY_SECRET_ENV] == values[IDENTITY_SECRET_ENV]


def test_commands_find_the_demo_tenant_when_nothing_else_is_configured(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    assert use_demo_files(settings(tmp_path), env) is None  # `demo` never ran here: nothing to find
    write_tenants_file(tmp_path, DEMO_TENANTS)
    found = settings(tmp_path)
    assert use_demo_files(found, env) == tenants_path(tmp_path)
    assert env["PROXY_TENANTS_FILE"] == str(tenants_path(tmp_path))
    # no provider key needed for a command that never calls a model; the secrets come from the file
    demo = load_tenants(found, env, provider_keys=False).get("demo")
    assert demo is not None and demo.api_key is None
    assert demo.client_keys == (env[CLIENT_KEY_ENV],) and demo.identity_secret == env[IDENTITY_SECRET_ENV]
    with pytest.raises(ConfigError, match="OPENAI_API_KEY is not set"):
        load_tenants(found, env)  # serving still needs a provider (or the simulator)


def test_a_configured_tenants_file_is_left_alone(tmp_path: Path) -> None:
    write_tenants_file(tmp_path, DEMO_TENANTS)
    mine = tmp_path / "mine.toml"
    mine.write_text('[tenants.x]\ndomains = ["x.test"]\n', encoding="utf-8")
    env: dict[str, str] = {}
    assert use_demo_files(settings(tmp_path, tenants_file=mine), env) is None
    assert env == {}
    assert use_demo_files(settings(tmp_path, legacy_domains=["x.test"]), env) is None
    assert env == {}


def test_an_untouched_older_tenants_file_is_replaced_an_edited_one_kept(tmp_path: Path) -> None:
    path = tenants_path(tmp_path)
    path.write_text(EARLIER, encoding="utf-8")
    write_tenants_file(tmp_path, DEMO_TENANTS)
    assert path.read_text(encoding="utf-8") == DEMO_TENANTS
    path.write_text(EARLIER + "# mine\n", encoding="utf-8")
    write_tenants_file(tmp_path, DEMO_TENANTS)
    assert path.read_text(encoding="utf-8").endswith("# mine\n")


def test_the_demo_tenant_describes_the_shop_it_serves() -> None:
    demo = tomllib.loads(DEMO_TENANTS)["tenants"]["demo"]
    for department in demo_catalog.CATEGORIES:
        assert department in demo["instructions"]
    assert {"capture_lead", "escalate_to_human"} <= set(demo["tools"])
    assert demo["client_key_envs"] == [CLIENT_KEY_ENV] and demo["identity_secret_env"] == IDENTITY_SECRET_ENV
    assert demo["widget"]["suggested_questions"] == SHOP_QUESTIONS


def test_the_start_up_summary_says_where_to_go(tmp_path: Path) -> None:
    write_tenants_file(tmp_path, DEMO_TENANTS)
    env = dict(ensure_secrets(tmp_path))
    found = settings(tmp_path, tenants_file=tenants_path(tmp_path), simulator_url="http://127.0.0.1:9/v1")
    text = welcome("http://127.0.0.1:8000", load_tenants(found, env), found, tmp_path / "mail")
    for line in ("http://127.0.0.1:8000/demo\n", "/demo/account", "/demo/staff", str((tmp_path / "mail").resolve())):
        assert line in text
    assert env[CLIENT_KEY_ENV] in text and env[IDENTITY_SECRET_ENV] not in text
    assert "local offline model" in text
    with_key = load_tenants(settings(tmp_path, tenants_file=tenants_path(tmp_path)), {**env, "OPENAI_API_KEY": "sk-x"})
    assert "your provider (OPENAI_API_KEY)" in welcome("http://h:1", with_key, found, tmp_path)
