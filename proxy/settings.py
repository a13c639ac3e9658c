"""Every process-wide setting, read once from the environment and `.env` into one :class:`Settings`.

The root holds what the service itself needs (where things live, providers, turns, serving); the
rate limiter, mail and retention each have a section (``settings.limits``, ``settings.mail``,
``settings.retention``) declared next to the code that uses it. Every field is documented where
it is declared and read under the environment names deployments already use (the old NestJS
names included): a field's ``validation_alias`` lists them, the first being the documented one.
``.env.sample`` is generated from these declarations (``python -m proxy settings sample``).

Tenants are not configured here but in the tenants file (``PROXY_TENANTS_FILE``) or, for
existing deployments, in the old parallel JSON arrays (``DOMAINS``, ``OPENAI_API_KEYS``,
``ASSISTANT_IDS``, ``EMAIL_TO``), which this class reads so that ``proxy.tenants`` can turn them
into tenants.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from proxy.engines.modes import ContextSetting
from proxy.limits.settings import LimitSettings
from proxy.mail.settings import MailSettings
from proxy.store.retention import RetentionSettings

EngineName = Literal["responses", "assistants", "chat"]

DEFAULT_INSTRUCTIONS = "You are a helpful shop assistant. Answer briefly and truthfully."
SERVER_CLOSE_MARGIN = 5  # seconds uvicorn gets beyond the drain to close the connections


def _json_array(value: Any, *, allow_scalar: bool = False) -> list[str]:
    """Parse the old form: a JSON array in an env var (``EMAIL_TO`` may also be one address)."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value).strip()
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        if allow_scalar:
            return [text]
        raise ValueError(f'must be a JSON array such as ["a", "b"], got {text[:60]!r}') from None
    if isinstance(parsed, str) and allow_scalar:
        return [parsed]
    if not isinstance(parsed, list):
        raise ValueError("must be a JSON array")
    return [str(v) for v in parsed]


def env_names(field: FieldInfo) -> tuple[str, ...]:
    """The environment names a field is read under, the documented one first."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return (alias,)
    if isinstance(alias, AliasChoices):
        return tuple(choice for choice in alias.choices if isinstance(choice, str))
    return ()


def section_model(field: FieldInfo) -> type[BaseModel] | None:
    """The section type of a root field (``limits``, ``mail``, ...), None for a plain setting."""
    annotation = field.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


class _EnvWithSections(EnvSettingsSource):
    """Reads a section's fields under their own flat names (``SMTP_HOST``), not ``MAIL__HOST``.

    The root's plain fields are read as pydantic-settings reads them; the ``.env`` source below
    shares this, so precedence (init, then environment, then ``.env``), case-insensitivity and
    ``.env`` parsing stay pydantic-settings'.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        section = section_model(field)
        if section is None:
            return super().get_field_value(field, field_name)
        values: dict[str, str] = {}  # by field name, so that an init value for the same field wins
        for name, sub in section.model_fields.items():
            for env_name in env_names(sub):
                value = self.env_vars.get(self._apply_case_sensitive(env_name))
                if value is not None:
                    values[name] = value
                    break
        return values or None, field_name, False

    def prepare_field_value(self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool) -> Any:
        if section_model(field) is not None:
            return value  # names to raw strings; the section's own validators parse them
        return super().prepare_field_value(field_name, field, value, value_is_complex)


class _DotEnvWithSections(_EnvWithSections, DotEnvSettingsSource):
    pass


class Settings(BaseSettings):
    """The service's settings; ``Settings()`` reads the environment and ``.env`` (the environment wins)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    # --- tenants ---
    tenants_file: Path | None = Field(
        None,
        validation_alias="PROXY_TENANTS_FILE",
        description='The tenants file (TOML): one [tenants.NAME] table per site. See README "Tenants".',
        examples=["tenants.toml"],
        json_schema_extra={"heading": "tenants"},
    )
    legacy_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="DOMAINS",
        description="The old NestJS form, still accepted when PROXY_TENANTS_FILE is not set: parallel JSON"
        " arrays matched by position. The sites' hosts:",
        examples=['["localhost","yourdomain.com"]'],
    )
    legacy_api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="OPENAI_API_KEYS",
        description="The old form: each site's provider key.",
        examples=['["sk-...","sk-..."]'],
    )
    legacy_assistant_ids: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="ASSISTANT_IDS",
        description="The old form: each site's assistant, used when PROXY_LEGACY_ENGINE is assistants.",
        examples=['["asst_...","asst_..."]'],
    )
    legacy_email_to: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="EMAIL_TO",
        description="The old form: where each site's leads go; one entry (or one address) applies to every domain.",
        examples=['["sales@yourdomain.com"]'],
    )
    legacy_engine: EngineName = Field(
        "responses",
        validation_alias="PROXY_LEGACY_ENGINE",
        description="The engine of tenants from the old form: responses, assistants or chat"
        " (OpenAI's Assistants API is shut down).",
    )
    default_model: str = Field(
        "gpt-4.1-mini", validation_alias="PROXY_DEFAULT_MODEL", description="The model of tenants from the old form."
    )
    default_instructions: str = Field(
        DEFAULT_INSTRUCTIONS,
        validation_alias="PROXY_DEFAULT_INSTRUCTIONS",
        description="The instructions of tenants from the old form.",
    )

    # --- providers ---
    openai_base_url: str | None = Field(
        None,
        validation_alias="OPENAI_BASE_URL",
        description="Base URL for every tenant without its own base_url (Azure OpenAI, an OpenAI-compatible"
        " server); unset: OpenAI.",
        examples=["https://api.openai.com/v1"],
        json_schema_extra={"heading": "providers"},
    )
    provider_connect_timeout: float = Field(
        10.0, validation_alias="PROXY_PROVIDER_CONNECT_TIMEOUT", description="Seconds to connect to a provider."
    )
    provider_read_timeout: float = Field(
        60.0,
        validation_alias="PROXY_PROVIDER_READ_TIMEOUT",
        description="Longest silence accepted inside a provider stream, in seconds.",
    )
    provider_max_retries: int = Field(
        2,
        validation_alias="PROXY_PROVIDER_MAX_RETRIES",
        description="Retries of a failed initial request (429/5xx/connection); a broken stream is never retried.",
    )
    provider_transport: Literal["aiohttp", "httpx"] = Field(
        "aiohttp",
        validation_alias="PROXY_PROVIDER_TRANSPORT",
        description="HTTP stack for provider calls: aiohttp (the chat and responses engines' streams over"
        " their own HTTP/1.1 client, proxy/engines/wire/, the SDK's other calls over aiohttp; both parse"
        " streamed bodies in C) or httpx (pure Python, the SDK's default; the same streams read through it).",
    )
    responses_context: ContextSetting = Field(
        "auto",
        validation_alias="PROXY_RESPONSES_CONTEXT",
        description="The responses engine's context mode for tenants without their own `context` (and the old"
        " form): auto (ask each base URL once: Conversations API, else stored responses, else our history),"
        " conversations (OpenAI), previous_response (servers that store responses), history (servers that"
        " store nothing: our last `history_window` messages go out with every turn).",
    )
    simulator_url: str | None = Field(
        None,
        validation_alias="PROXY_SIMULATOR_URL",
        description="Set by `python -m proxy demo` (and tests): tenants without a key talk to this"
        " OpenAI-protocol simulator.",
        examples=["http://127.0.0.1:8100/v1"],
    )

    # --- database ---
    database_url: str | None = Field(
        None,
        validation_alias="DATABASE_URL",
        description="Any Postgres with the `vector` extension (Supabase included). Unset: an embedded"
        " Postgres + pgvector is started with its data under PROXY_DATA_DIR/postgres.",
        examples=["postgresql://user:password@host:5432/dbname"],
        json_schema_extra={"heading": "database"},
    )
    data_dir: Path = Field(
        Path(".data"),
        validation_alias="PROXY_DATA_DIR",
        description="Local state: the embedded Postgres, the demo's files and mail.",
    )
    db_pool_min: int = Field(1, validation_alias="PROXY_DB_POOL_MIN", description="Connections kept open per worker.")
    db_pool_max: int = Field(10, validation_alias="PROXY_DB_POOL_MAX", description="Connections at most per worker.")
    db_request_timeout: float = Field(
        5.0,
        gt=0,
        validation_alias="PROXY_DB_REQUEST_TIMEOUT",
        description="A request waits at most this many seconds for a database connection; past that, or with"
        " the database away, it answers 503 `database_unavailable` with Retry-After.",
    )

    # --- turns and streams ---
    max_body_bytes: int = Field(
        64 * 1024,
        validation_alias="PROXY_MAX_BODY_BYTES",
        description="Largest request body in bytes (413 above it).",
        json_schema_extra={"heading": "turns and streams"},
    )
    max_message_chars: int = Field(
        8000, validation_alias="PROXY_MAX_MESSAGE_CHARS", description="Longest visitor message in characters."
    )
    turn_timeout: float = Field(
        120.0,
        validation_alias="PROXY_TURN_TIMEOUT",
        description="A whole turn (all tool rounds) is stopped after this many seconds.",
    )
    turn_lease: float = Field(
        15.0,
        gt=0,
        validation_alias="PROXY_TURN_LEASE",
        description="A turn's lock on its thread lasts this many seconds and is renewed while the turn runs:"
        " the threads of a worker that died (kill -9, a crashed machine) are free again after it.",
    )
    heartbeat_interval: float = Field(
        15.0,
        validation_alias="PROXY_HEARTBEAT_INTERVAL",
        description="Seconds of silence before a `: ping` comment on a stream.",
    )
    disconnect_grace: float = Field(
        10.0,
        validation_alias="PROXY_DISCONNECT_GRACE",
        description="Seconds a turn keeps running after its visitor's connection dropped, so a reconnect with"
        " Last-Event-ID can resume it on any worker (0: cancel at once).",
    )
    shutdown_grace: float = Field(
        20.0,
        validation_alias="PROXY_SHUTDOWN_GRACE",
        description="On SIGTERM or Ctrl+C, seconds running turns get to finish while new ones are refused with"
        " 503; those still running then end with `shutting_down` and `done`.",
    )
    write_pause_max: float = Field(
        0.15,
        ge=0,
        le=1,
        validation_alias="PROXY_WRITE_PAUSE_MAX",
        description="Longest pause, in seconds, of a stream after each write, so that the tokens arriving"
        " meanwhile share its next write: 0.05 while up to 50 streams are open, 1 ms per open stream"
        " beyond (fewer, larger writes: less CPU per token under load). 0.05 keeps it at 50 ms; 0: no pause.",
    )
    compat_frame_gap: float = Field(
        0.04,
        ge=0,
        le=1,
        validation_alias="PROXY_COMPAT_FRAME_GAP",
        description="Old routes (/open-ai/*): seconds between two frames, so that widgets built for the old"
        " service, which parse one frame per network read, get them one at a time (see docs/production.md).",
    )
    max_loop_lag: float = Field(
        0.05,
        ge=0,
        validation_alias="PROXY_MAX_LOOP_LAG",
        description="Overload: a worker whose event loop runs this many seconds late (smoothed) refuses new"
        " turns with 503 `overloaded` and Retry-After until the lag is below half of it again (0 or empty:"
        " never). A healthy worker is a few ms late; 0.05 is reached at about three times its capacity"
        " (see proxy.turns.admission).",
    )
    max_cpu_busy: float = Field(
        0.0,
        ge=0,
        le=1,
        validation_alias="PROXY_MAX_CPU_BUSY",
        description="Behind a load balancer that retries a 503 on another worker: also refuse while the worker"
        " uses more than this share of a core, smoothed over a second (0 or empty: off; e.g. 0.95).",
    )
    max_active_turns: int | None = Field(
        None,
        ge=0,
        validation_alias="PROXY_MAX_ACTIVE_TURNS",
        description="Optional hard cap on running turns per worker, refused the same way beyond it (unset or 0:"
        " none). Idle streams waiting on a slow provider count too, so leave room for them.",
        examples=["500"],
    )

    # --- serving ---
    host: str = Field(
        "127.0.0.1",
        validation_alias="PROXY_HOST",
        description="Where `serve` listens (its --host wins).",
        json_schema_extra={"heading": "serving"},
    )
    port: int = Field(
        8000,
        validation_alias=AliasChoices("PROXY_PORT", "PORT"),
        description="The port `serve` listens on (its --port wins).",
    )
    log_level: str = Field("info", validation_alias="PROXY_LOG_LEVEL", description="debug, info, warning or error.")
    log_format: Literal["json", "text"] = Field(
        "json",
        validation_alias="PROXY_LOG_FORMAT",
        description="json (one object per line, for `serve`) or text.",
    )
    max_header_bytes: int = Field(
        64 * 1024,
        ge=1024,
        validation_alias="PROXY_MAX_HEADER_BYTES",
        description="Request headers larger than this many bytes get 431.",
    )
    header_timeout: float = Field(
        15.0,
        gt=0,
        validation_alias="PROXY_HEADER_TIMEOUT",
        description="Headers still incomplete after this many seconds (from the connection's start or its"
        " previous response) get 408 and the connection is closed.",
    )
    metrics_token: str | None = Field(
        None,
        validation_alias="PROXY_METRICS_TOKEN",
        description="/metrics answers only `Authorization: Bearer <this>`; unset, /metrics is off (404).",
        examples=[""],
        repr=False,
    )
    prune_interval: float = Field(
        3600.0,
        gt=0,
        validation_alias="PROXY_PRUNE_INTERVAL",
        description="Housekeeping: every this many seconds, saved events of runs older than an hour and outbox"
        " rows delivered more than PROXY_OUTBOX_KEEP_DAYS ago are deleted.",
    )
    outbox_keep_days: float = Field(
        30.0, gt=0, validation_alias="PROXY_OUTBOX_KEEP_DAYS", description="Days a delivered outbox row is kept."
    )

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
        dotenv = _DotEnvWithSections(
            settings_cls,
            env_file=dotenv_settings.env_file,
            env_file_encoding=dotenv_settings.env_file_encoding,
        )
        return init_settings, _EnvWithSections(settings_cls), dotenv, file_secret_settings

    @field_validator("legacy_domains", "legacy_api_keys", "legacy_assistant_ids", mode="before")
    @classmethod
    def _parse_array(cls, value: Any) -> list[str]:
        return _json_array(value)

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("max_cpu_busy", "max_loop_lag", "max_active_turns", mode="before")
    @classmethod
    def _blank_is_off(cls, value: Any) -> Any:
        return 0 if isinstance(value, str) and not value.strip() else value

    @field_validator("legacy_email_to", mode="before")
    @classmethod
    def _parse_email_to(cls, value: Any) -> list[str]:
        return _json_array(value, allow_scalar=True)

    @property
    def server_shutdown_timeout(self) -> int:
        """uvicorn's ``timeout_graceful_shutdown``: our drain (``shutdown_grace``) comes first."""
        return int(self.shutdown_grace) + SERVER_CLOSE_MARGIN

    @property
    def embedded_database_dir(self) -> Path:
        return self.data_dir / "postgres"
