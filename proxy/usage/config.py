"""A tenant's ``[tenants.NAME.budget]`` section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class BudgetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
