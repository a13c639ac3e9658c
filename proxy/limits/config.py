"""A tenant's ``[tenants.NAME.limits]`` section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class LimitsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
