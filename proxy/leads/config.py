"""A tenant's ``[tenants.NAME.leads]`` section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class LeadsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
