"""A tenant's ``[tenants.NAME.leads]`` section.

Recipients are the tenant's ``lead_recipients`` (where the old ``EMAIL_TO`` lands); this section
says how the mail looks, where the optional webhook goes and when a conversation is handed to a
human. Secrets are named by environment variable, never written here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proxy.leads.caps import Ceilings

WebhookEvent = Literal["lead", "handoff"]


def _all_events() -> list[WebhookEvent]:
    return ["lead", "handoff"]


class LeadsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # the mail
    from_address: str | None = None  # "Shop <leads@shop.com>"; else SMTP_FROM, else "AI Bot <SMTP_USER>"
    subject_prefix: str = ""  # e.g. "[shop.com] "
    transcript_messages: int = Field(default=12, ge=0, le=100)  # the last messages of the chat shown in the mail

    # the webhook (optional); signed with HMAC-SHA256 when a secret variable is named
    webhook_url: str | None = None
    webhook_secret_env: str | None = None
    webhook_events: list[WebhookEvent] = Field(default_factory=_all_events)

    # capture_lead
    require_consent: bool = False  # refuse to store contact details the visitor did not agree to share

    # flood ceilings per hour (0: off): neither a prompt-injected model calling capture_lead in a loop
    # nor a script opening conversation after conversation can mail the team hundreds of times
    leads_per_thread_per_hour: int = Field(default=3, ge=0)
    leads_per_visitor_per_hour: int = Field(default=5, ge=0)
    leads_per_tenant_per_hour: int = Field(default=100, ge=0)
    handoffs_per_thread_per_hour: int = Field(default=2, ge=0)
    handoffs_per_visitor_per_hour: int = Field(default=3, ge=0)
    handoffs_per_tenant_per_hour: int = Field(default=60, ge=0)

    # human handoff
    handoff_keywords: list[str] = Field(default_factory=list)  # phrases that hand the chat over, any case
    handoff_on_request: bool = True  # "can I talk to a human?" hands over too
    handoff_cooldown_minutes: int = Field(default=30, ge=0)  # one handoff per thread in this window: no mail storms
    handoff_message: str = "I've asked a member of our team to take over. They will get back to you by email."

    @property
    def lead_ceilings(self) -> Ceilings:
        return Ceilings(self.leads_per_thread_per_hour, self.leads_per_visitor_per_hour, self.leads_per_tenant_per_hour)

    @property
    def handoff_ceilings(self) -> Ceilings:
        return Ceilings(
            self.handoffs_per_thread_per_hour, self.handoffs_per_visitor_per_hour, self.handoffs_per_tenant_per_hour
        )

    @field_validator("webhook_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("handoff_keywords")
    @classmethod
    def _check_keywords(cls, value: list[str]) -> list[str]:
        cleaned = [" ".join(k.split()) for k in value]
        if any(not k for k in cleaned):
            raise ValueError("keywords must not be empty")
        return cleaned
