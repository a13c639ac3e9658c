"""The settings about serving: where `serve` listens and logs, the bounds on a request's headers,
/metrics, and the housekeeping a worker does on the side.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator


class ServingFields(BaseModel):
    """The server, its logs and metrics, and housekeeping."""

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
    access_log: bool = Field(
        True,
        validation_alias="PROXY_ACCESS_LOG",
        description=(
            "One line per request when it ends (logger `proxy.access`): client, method, path without"
            " the query string, status, duration, request id. false: none."
        ),
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

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value
