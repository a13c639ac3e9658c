"""The settings about tenants: where the tenants file is, and the old NestJS form of configuring
sites (parallel JSON arrays in ``DOMAINS``, ``OPENAI_API_KEYS``, ``ASSISTANT_IDS``, ``EMAIL_TO``),
which ``proxy.tenants`` turns into tenants for deployments that have no tenants file yet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

EngineName = Literal["responses", "assistants", "chat"]

DEFAULT_INSTRUCTIONS = "You are a helpful shop assistant. Answer briefly and truthfully."


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


class TenantFields(BaseModel):
    """The tenants file, and the old form's arrays with the defaults of the tenants made from them."""

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

    @field_validator("legacy_domains", "legacy_api_keys", "legacy_assistant_ids", mode="before")
    @classmethod
    def _parse_array(cls, value: Any) -> list[str]:
        return _json_array(value)

    @field_validator("legacy_email_to", mode="before")
    @classmethod
    def _parse_email_to(cls, value: Any) -> list[str]:
        return _json_array(value, allow_scalar=True)
