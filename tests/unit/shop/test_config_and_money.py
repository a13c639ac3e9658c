"""The shop section of a tenant, and money formatting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from proxy.shop.config import ShopConfig, ShopPolicy
from proxy.shop.money import fmt, to_minor
from proxy.tenants import TenantConfig


def test_defaults_suit_a_public_widget() -> None:
    shop = TenantConfig(name="t", domains=["shop.example"]).shop
    assert (shop.source, shop.embedder, shop.stripe_api_base) == ("stripe", "offline", "https://api.stripe.com")
    assert shop.policy == ShopPolicy(anonymous="catalog", identified="own", staff="all")
    assert shop.policy.access_for("anonymous") == "catalog"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"embedder": "word2vec"}, "offline"),
        ({"source": "airbyte"}, "airbyte_tables"),
        ({"source": "airbyte", "airbyte_tables": {"products": "drop table x;"}}, "table name"),
        ({"airbyte_tables": {"orders": "orders"}}, "unknown stream"),
        ({"policy": {"anonymous": "everything"}}, "anonymous"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_shop_sections_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ShopConfig.model_validate(fields)


def test_airbyte_and_openai_settings() -> None:
    shop = ShopConfig(
        source="airbyte", airbyte_tables={"products": "airbyte.products"}, embedder="openai:text-embedding-3-small@512"
    )
    assert shop.airbyte_tables["products"] == "airbyte.products"


def test_money() -> None:
    assert fmt(4990, "eur") == "49.90 EUR"
    assert fmt(1500, "JPY") == "1500 JPY"
    assert fmt(-5, "usd") == "-0.05 USD"
    assert fmt(None, "eur") is None
    assert to_minor(49.9, "eur") == 4990 and to_minor("0.005", "usd") == 1 and to_minor(1500, "jpy") == 1500
