"""A tenant's ``[tenants.NAME.limits]`` section.

Each number is a ceiling over a sliding window; ``0`` switches that limit off. The defaults suit
a chat widget: a person types a message every few seconds at most, a shop's whole audience seldom
sends ten per second, and nobody needs a new conversation every two minutes from one address.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LimitsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    messages_per_minute_per_visitor: int = Field(20, ge=0, description="per X-Visitor-Id (or identity)")
    messages_per_minute_per_ip: int = Field(30, ge=0, description="per client address (IPv6: per /64)")
    messages_per_minute_per_tenant: int = Field(600, ge=0, description="all of the tenant's callers together")
    threads_per_hour_per_ip: int = Field(30, ge=0, description="new conversations per client address")
