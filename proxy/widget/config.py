"""A tenant's ``[tenants.NAME.widget]`` section: how the widget looks on that tenant's site."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class WidgetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
