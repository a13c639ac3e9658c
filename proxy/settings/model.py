"""The one :class:`Settings`: the groups of fields, each declared in a module of its concern, the
sections declared next to the code that uses them, and the sources it is read from.

pydantic collects a model's fields from its bases in reverse order of inheritance, so the groups
are listed last first: the fields keep the order ``.env.sample`` shows them in (tenants,
providers, database, turns and streams, serving, then the sections).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, DotEnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from proxy.limits.settings import LimitSettings
from proxy.mail.settings import MailSettings
from proxy.settings.database import DatabaseFields
from proxy.settings.providers import ProviderFields
from proxy.settings.serving import ServingFields
from proxy.settings.sources import DotEnvWithSections, EnvWithSections
from proxy.settings.tenants import TenantFields
from proxy.settings.turns import TurnFields
from proxy.store.retention import RetentionSettings

SERVER_CLOSE_MARGIN = 5  # seconds uvicorn gets beyond the drain to close the connections


class Settings(ServingFields, TurnFields, DatabaseFields, ProviderFields, TenantFields, BaseSettings):
    """The service's settings; ``Settings()`` reads the environment and ``.env`` (the environment wins)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    # --- sections ---
    limits: LimitSettings = Field(
        default_factory=LimitSettings,
        description="rate limits (per tenant in [tenants.NAME.limits])",
    )
    mail: MailSettings = Field(
        default_factory=MailSettings,
        description="mail (lead and handoff notifications)",
    )
    retention: RetentionSettings = Field(
        default_factory=RetentionSettings,
        description="retention (per tenant in [tenants.NAME.retention])",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The usual order; the environment and `.env` also fill the sections from their flat names."""
        assert isinstance(dotenv_settings, DotEnvSettingsSource)
        dotenv = DotEnvWithSections(
            settings_cls,
            env_file=dotenv_settings.env_file,
            env_file_encoding=dotenv_settings.env_file_encoding,
        )
        return init_settings, EnvWithSections(settings_cls), dotenv, file_secret_settings

    @property
    def server_shutdown_timeout(self) -> int:
        """uvicorn's ``timeout_graceful_shutdown``: our drain (``shutdown_grace``) comes first."""
        return int(self.shutdown_grace) + SERVER_CLOSE_MARGIN

    @property
    def embedded_database_dir(self) -> Path:
        return self.data_dir / "postgres"
