"""A tenant's ``[tenants.NAME.shop]`` section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ShopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
