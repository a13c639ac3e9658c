"""The settings about talking to the AI providers: where they are, how long to wait for them, over
which HTTP stack, and how a conversation's context reaches them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from proxy.engines.modes import ContextSetting


class ProviderFields(BaseModel):
    """Defaults for every tenant that does not set its own."""

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
        description=(
            "Retries of a failed initial request (429/5xx/connection); a broken stream is never retried."
            " A request whose connection the server closed without answering (a kept-alive connection"
            " timing out as it arrived) is sent once more on a new one, whatever this says."
        ),
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
