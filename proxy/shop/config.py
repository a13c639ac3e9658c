"""A tenant's ``[tenants.NAME.shop]`` section: where its shop data comes from and who sees what.

```toml
[tenants.acme.shop]
source = "stripe"                      # "stripe" | "airbyte" | "demo"
stripe_key_env = "ACME_STRIPE_KEY"     # a restricted, read-only key
embedder = "openai:text-embedding-3-small"
policy = { anonymous = "catalog", identified = "own", staff = "all" }
```
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from proxy.visitors import VisitorKind

# What a visitor may see, from least to most: nothing; the product catalog; the catalog plus their
# own customer record and orders; everything, including other customers and aggregate insights.
Access = Literal["none", "catalog", "own", "all"]
ACCESS_ORDER: dict[str, int] = {"none": 0, "catalog": 1, "own": 2, "all": 3}

AIRBYTE_STREAMS = ("products", "prices", "customers", "invoices", "invoice_line_items")
_TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
_EMBEDDER_RE = re.compile(r"^(offline(:\d+)?|openai:[A-Za-z0-9._-]+(@\d+)?)$")


class ShopPolicy(BaseModel):
    """Access per visitor kind. The defaults suit a public shop widget."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    anonymous: Access = "catalog"
    identified: Access = "own"
    staff: Access = "all"

    def access_for(self, kind: VisitorKind) -> Access:
        return getattr(self, kind, "none")


class ShopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["stripe", "airbyte", "demo"] = "stripe"
    stripe_key_env: str | None = None
    stripe_api_base: str = "https://api.stripe.com"
    stripe_api_version: str | None = None  # None: the account's default version
    airbyte_tables: dict[str, str] = Field(default_factory=dict)  # stream -> [schema.]table
    # "offline" (hashed, 256 dims, no download), "offline:<dims>", "openai:<model>" or
    # "openai:<model>@<dims>" (for models that accept a `dimensions` parameter)
    embedder: str = "offline"
    policy: ShopPolicy = Field(default_factory=ShopPolicy)
    max_results: int = Field(10, ge=1, le=50)  # cap on rows any shop tool returns

    @field_validator("embedder")
    @classmethod
    def _check_embedder(cls, value: str) -> str:
        if not _EMBEDDER_RE.match(value):
            raise ValueError("must be 'offline', 'offline:<dims>', 'openai:<model>' or 'openai:<model>@<dims>'")
        return value

    @field_validator("airbyte_tables")
    @classmethod
    def _check_tables(cls, tables: dict[str, str]) -> dict[str, str]:
        for stream, table in tables.items():
            if stream not in AIRBYTE_STREAMS:
                raise ValueError(f"unknown stream {stream!r}; known: {', '.join(AIRBYTE_STREAMS)}")
            if not _TABLE_RE.match(table):
                raise ValueError(f"{table!r} is not a table name such as products or airbyte.products")
        return tables

    @model_validator(mode="after")
    def _check_source(self) -> ShopConfig:
        if self.source == "airbyte" and "products" not in self.airbyte_tables:
            raise ValueError("source 'airbyte' needs airbyte_tables with at least a 'products' table")
        return self
