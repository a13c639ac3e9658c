"""Process-wide settings from the environment and `.env` (the old NestJS names included).

Tenants are not configured here but in the tenants file (``PROXY_TENANTS_FILE``) or, for
existing deployments, in the old parallel JSON arrays (``DOMAINS``, ``OPENAI_API_KEYS``,
``ASSISTANT_IDS``, ``EMAIL_TO``), which this class reads so that ``proxy.tenants`` can turn them
into tenants.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from proxy.engines.modes import ContextSetting

EngineName = Literal["responses", "assistants", "chat"]


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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    # where things live
    tenants_file: Path | None = Field(None, validation_alias="PROXY_TENANTS_FILE")
    data_dir: Path = Field(Path(".data"), validation_alias="PROXY_DATA_DIR")
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    db_pool_min: int = Field(1, validation_alias="PROXY_DB_POOL_MIN")
    db_pool_max: int = Field(10, validation_alias="PROXY_DB_POOL_MAX")
    # a request waits at most this long for a database connection, then answers 503
    db_request_timeout: float = Field(5.0, gt=0, validation_alias="PROXY_DB_REQUEST_TIMEOUT")

    # providers
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")
    provider_connect_timeout: float = Field(10.0, validation_alias="PROXY_PROVIDER_CONNECT_TIMEOUT")
    provider_read_timeout: float = Field(60.0, validation_alias="PROXY_PROVIDER_READ_TIMEOUT")
    provider_max_retries: int = Field(2, validation_alias="PROXY_PROVIDER_MAX_RETRIES")
    # aiohttp (the SDK's ``openai[aiohttp]`` transport) parses streamed bodies in C; httpx is the SDK's default
    provider_transport: Literal["aiohttp", "httpx"] = Field("aiohttp", validation_alias="PROXY_PROVIDER_TRANSPORT")
    # the responses engine's context mode for tenants that set none (and the old environment form)
    responses_context: ContextSetting = Field("auto", validation_alias="PROXY_RESPONSES_CONTEXT")

    # the old environment form of tenants
    legacy_domains: Annotated[list[str], NoDecode] = Field(default_factory=list, validation_alias="DOMAINS")
    legacy_api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list, validation_alias="OPENAI_API_KEYS")
    legacy_assistant_ids: Annotated[list[str], NoDecode] = Field(default_factory=list, validation_alias="ASSISTANT_IDS")
    legacy_email_to: Annotated[list[str], NoDecode] = Field(default_factory=list, validation_alias="EMAIL_TO")
    legacy_engine: EngineName = Field("responses", validation_alias="PROXY_LEGACY_ENGINE")
    default_model: str = Field("gpt-4.1-mini", validation_alias="PROXY_DEFAULT_MODEL")
    default_instructions: str = Field(
        "You are a helpful shop assistant. Answer briefly and truthfully.",
        validation_alias="PROXY_DEFAULT_INSTRUCTIONS",
    )

    # turns and streams
    max_body_bytes: int = Field(64 * 1024, validation_alias="PROXY_MAX_BODY_BYTES")
    max_message_chars: int = Field(8000, validation_alias="PROXY_MAX_MESSAGE_CHARS")
    turn_timeout: float = Field(120.0, validation_alias="PROXY_TURN_TIMEOUT")
    # a turn's lock on its thread, renewed while it runs: a dead worker's threads are free after it
    turn_lease: float = Field(15.0, gt=0, validation_alias="PROXY_TURN_LEASE")
    heartbeat_interval: float = Field(15.0, validation_alias="PROXY_HEARTBEAT_INTERVAL")
    disconnect_grace: float = Field(10.0, validation_alias="PROXY_DISCONNECT_GRACE")
    shutdown_grace: float = Field(20.0, validation_alias="PROXY_SHUTDOWN_GRACE")
    # seconds between two frames on /open-ai/process-message: old widgets parse one frame per read
    compat_frame_gap: float = Field(0.04, ge=0, le=1, validation_alias="PROXY_COMPAT_FRAME_GAP")

    # admission: new turns are refused (503 `overloaded`) while the worker is overloaded; see
    # proxy.turns.admission for why the event loop's lag is the signal and why 0.05 s
    max_cpu_busy: float = Field(0.0, ge=0, le=1, validation_alias="PROXY_MAX_CPU_BUSY")  # of a core; 0: off
    max_loop_lag: float = Field(0.05, ge=0, validation_alias="PROXY_MAX_LOOP_LAG")  # seconds; 0: off
    max_active_turns: int | None = Field(None, ge=0, validation_alias="PROXY_MAX_ACTIVE_TURNS")  # per worker

    # serving
    host: str = Field("127.0.0.1", validation_alias="PROXY_HOST")
    port: int = Field(8000, validation_alias=AliasChoices("PROXY_PORT", "PORT"))
    max_header_bytes: int = Field(64 * 1024, ge=1024, validation_alias="PROXY_MAX_HEADER_BYTES")  # per request
    header_timeout: float = Field(15.0, gt=0, validation_alias="PROXY_HEADER_TIMEOUT")  # seconds to send them
    log_level: str = Field("info", validation_alias="PROXY_LOG_LEVEL")
    log_format: Literal["json", "text"] = Field("json", validation_alias="PROXY_LOG_FORMAT")

    # operations: /metrics answers only a scraper sending this bearer token (unset: /metrics is off);
    # old stream events and delivered outbox rows are deleted on a schedule
    metrics_token: str | None = Field(None, validation_alias="PROXY_METRICS_TOKEN")
    prune_interval: float = Field(3600.0, gt=0, validation_alias="PROXY_PRUNE_INTERVAL")  # seconds
    outbox_keep_days: float = Field(30.0, gt=0, validation_alias="PROXY_OUTBOX_KEEP_DAYS")

    # set by `demo` (and tests): tenants without a key talk to this OpenAI-protocol simulator
    simulator_url: str | None = Field(None, validation_alias="PROXY_SIMULATOR_URL")

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
    def embedded_database_dir(self) -> Path:
        return self.data_dir / "postgres"
