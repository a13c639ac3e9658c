"""``[tenants.NAME.widget]``: defaults, and values that reach CSS or URLs are validated."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from proxy.tenants import TenantConfig
from proxy.widget.config import WidgetConfig


def test_defaults_are_a_complete_public_config() -> None:
    public = WidgetConfig().public()
    assert public["position"] == "bottom-right"
    assert public["primary_color"] == "#2563eb"
    assert public["title"] is None  # the widget's catalogue supplies it in the visitor's language
    assert public["suggested_questions"] == []


def test_a_tenant_section_as_written_in_toml() -> None:
    config = TenantConfig.model_validate(
        {
            "name": "acme",
            "domains": ["acme.test"],
            "widget": {
                "title": "  Acme  ",
                "greeting": "Hello **there**",
                "suggested_questions": ["Opening hours?", "Shipping costs?"],
                "primary_color": "#0A7",
                "avatar_url": "https://cdn.acme.test/bot.png",
                "position": "bottom-left",
                "locale": "he",
                "open_on_load": True,
                "tool_labels": {"search_products": "Checking the shelves…"},
            },
        }
    )
    assert config.widget.title == "Acme"
    assert config.widget.position == "bottom-left"
    assert config.widget.public()["tool_labels"] == {"search_products": "Checking the shelves…"}


@pytest.mark.parametrize(
    "field",
    [
        {"primary_color": "red; background: url(https://evil.test)"},
        {"primary_color": "#12345"},
        {"text_color": "rgb(0,0,0)"},
        {"avatar_url": "javascript:alert(1)"},
        {"avatar_url": "data:image/svg+xml,<svg onload=alert(1)>"},
        {"avatar_url": "//evil.test/x.png"},
        {"avatar_url": 'https://x.test/a".png'},
        {"position": "top-left"},
        {"locale": "en_US; drop"},
        {"suggested_questions": ["q"] * 7},
        {"suggested_questions": [""]},
        {"tool_labels": {"bad name!": "x"}},
        {"unknown": 1},
    ],
)
def test_rejected_values(field: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        WidgetConfig.model_validate(field)


def test_avatar_may_be_a_path_on_the_proxy() -> None:
    assert WidgetConfig(avatar_url="/demo/avatar.svg").avatar_url == "/demo/avatar.svg"
