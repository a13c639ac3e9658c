"""The mail section of the settings (``Settings.mail``): SMTP and the outbox.

The old NestJS names keep working unchanged (``SMTP_HOST``, ``SMTP_PORT`` with implicit TLS on
465, ``SMTP_USER``, ``SMTP_PASS``); the new ones only add what the old service could not say
(forced STARTTLS, a from-address, the outbox's retry policy).
"""

from __future__ import annotations

from email.utils import parseaddr

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr

from proxy.backoff import backoff_delay


class MailSettings(BaseModel):
    """``Settings.mail``: the SMTP server and how the outbox delivers lead and handoff notifications."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    # SMTP (old names first)
    host: str | None = Field(
        None,
        validation_alias=AliasChoices("SMTP_HOST", "PROXY_SMTP_HOST"),
        description="The SMTP server; unset: mails stay queued (never dropped) until it is set.",
        examples=["smtp.example.com"],
    )
    port: int | None = Field(
        None,
        validation_alias=AliasChoices("SMTP_PORT", "PROXY_SMTP_PORT"),
        description="Unset: 465 with implicit TLS, else 587 with a user, else 25. Port 465 means implicit TLS.",
        examples=["587"],
    )
    user: str | None = Field(
        None,
        validation_alias=AliasChoices("SMTP_USER", "PROXY_SMTP_USER"),
        description="The SMTP login (and, as an address, the default sender).",
        examples=["bot@example.com"],
    )
    password: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SMTP_PASS", "SMTP_PASSWORD", "PROXY_SMTP_PASSWORD"),
        description="The SMTP password.",
        examples=["..."],
    )
    implicit_tls: bool | None = Field(
        None,
        validation_alias=AliasChoices("SMTP_TLS", "SMTP_SSL", "PROXY_SMTP_TLS"),
        description="Force implicit TLS on or off; unset: on exactly when the port is 465, as before.",
        examples=[""],
    )
    starttls: bool | None = Field(
        None,
        validation_alias=AliasChoices("SMTP_STARTTLS", "PROXY_SMTP_STARTTLS"),
        description="true: refuse to send without STARTTLS; false: never upgrade; unset: upgrade when offered.",
        examples=[""],
    )
    validate_certs: bool = Field(
        True,
        validation_alias=AliasChoices("SMTP_VALIDATE_CERTS", "PROXY_SMTP_VALIDATE_CERTS"),
        description="Check the SMTP server's TLS certificate.",
    )
    from_address: str | None = Field(
        None,
        validation_alias=AliasChoices("SMTP_FROM", "PROXY_MAIL_FROM"),
        description='The sender; unset: "AI Bot <SMTP_USER>", as before.',
        examples=['"Shop assistant <bot@example.com>"'],
    )
    timeout: float = Field(
        30.0,
        validation_alias=AliasChoices("SMTP_TIMEOUT", "PROXY_SMTP_TIMEOUT"),
        description="Seconds for each SMTP operation.",
    )

    # outbox
    max_attempts: int = Field(
        8,
        ge=1,
        validation_alias="PROXY_OUTBOX_MAX_ATTEMPTS",
        description="Delivery attempts before a mail or webhook is dead-lettered.",
    )
    backoff_base: float = Field(
        30.0,
        ge=0,
        validation_alias="PROXY_OUTBOX_BACKOFF_BASE",
        description="Seconds before the second attempt; each further wait doubles (with jitter).",
    )
    backoff_max: float = Field(
        3600.0, ge=0, validation_alias="PROXY_OUTBOX_BACKOFF_MAX", description="The longest wait between attempts."
    )
    lease_seconds: float = Field(
        120.0,
        gt=0,
        validation_alias="PROXY_OUTBOX_LEASE_SECONDS",
        description="A worker holds the rows it delivers this long; those of a worker that died are retried after it.",
    )
    poll_interval: float = Field(
        15.0,
        gt=0,
        validation_alias="PROXY_OUTBOX_POLL_INTERVAL",
        description="Seconds between looks for due rows when no notification announced one.",
    )
    batch_size: int = Field(
        20, ge=1, validation_alias="PROXY_OUTBOX_BATCH_SIZE", description="Rows taken per pass at most."
    )
    concurrency: int = Field(
        4, ge=1, validation_alias="PROXY_OUTBOX_CONCURRENCY", description="Deliveries at once per worker."
    )
    webhook_timeout: float = Field(
        10.0, gt=0, validation_alias="PROXY_WEBHOOK_TIMEOUT", description="Seconds for one webhook delivery."
    )

    @property
    def configured(self) -> bool:
        """Without a host mails stay queued (never dropped) until SMTP is set up."""
        return bool(self.host)

    @property
    def use_tls(self) -> bool:
        return self.implicit_tls if self.implicit_tls is not None else self.port == 465

    @property
    def effective_port(self) -> int:
        if self.port:
            return self.port
        if self.use_tls:
            return 465
        return 587 if self.user else 25

    def default_from(self) -> str:
        """``SMTP_FROM``, else the old ``AI Bot <SMTP_USER>``, else a local placeholder."""
        if self.from_address:
            return self.from_address
        if self.user and "@" in parseaddr(self.user)[1]:
            return f"AI Bot <{self.user}>"
        return "AI Bot <assistant-proxy@localhost>"

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: at most ``backoff_base`` doubled per earlier
        failure and ``backoff_max``, jittered (see :mod:`proxy.backoff`)."""
        return backoff_delay(attempts - 1, first=self.backoff_base, cap=self.backoff_max)
