"""A tenant's ``[tenants.NAME.budget]`` section: daily token caps and what happens past them.

``0`` means no cap. Past ``daily_soft_tokens`` the cheaper ``fallback_model`` answers; past
``daily_hard_tokens`` no provider call is made and the visitor is shown ``blocked_message`` and
offered to leave their contact. Days begin at midnight in ``timezone``.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_BLOCKED_MESSAGE = (
    "Our assistant has reached its limit for today. Leave your e-mail address and we will get back to you."
)


class BudgetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    daily_soft_tokens: int = Field(0, ge=0, description="input + output tokens per day before the fallback model")
    daily_hard_tokens: int = Field(0, ge=0, description="input + output tokens per day before replies stop")
    fallback_model: str | None = Field(None, min_length=1, description="the cheaper model past the soft cap")
    blocked_message: str = Field(DEFAULT_BLOCKED_MESSAGE, min_length=1, max_length=2000)
    timezone: str = Field("UTC", description="where the tenant's day begins, e.g. Europe/Berlin")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a known time zone such as UTC or Europe/Berlin") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> BudgetConfig:
        if self.daily_soft_tokens and not self.fallback_model:
            raise ValueError("daily_soft_tokens needs a fallback_model (the cheaper model used past it)")
        if self.daily_soft_tokens and self.daily_hard_tokens and self.daily_soft_tokens > self.daily_hard_tokens:
            raise ValueError("daily_soft_tokens must not exceed daily_hard_tokens")
        return self

    @property
    def capped(self) -> bool:
        return bool(self.daily_soft_tokens or self.daily_hard_tokens)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
