"""Build each tenant's engine: one OpenAI SDK client per tenant over one shared connection pool.

The chat and responses engines stream their turns over that pool without the SDK
(:mod:`proxy.engines.provider_http`); the SDK sends everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

import httpx2
import openai

from proxy.engines.base import AssistantProfile, Engine
from proxy.engines.context import probes_for
from proxy.engines.provider_http import KEEPALIVE_SECONDS, ProviderPool
from proxy.engines.proxied import EnvironmentProxied, HttpxPool
from proxy.settings import Settings
from proxy.tenants import Tenant, TenantConfig

ENGINE_CLASSES = {
    "responses": "proxy.engines.responses:ResponsesEngine",
    "assistants": "proxy.engines.assistants:AssistantsEngine",
    "chat": "proxy.engines.chat:ChatEngine",
}


def engine_class(name: str) -> Callable[[openai.AsyncOpenAI, AssistantProfile], Engine]:
    module, _, attr = ENGINE_CLASSES[name].partition(":")
    engine: Callable[[openai.AsyncOpenAI, AssistantProfile], Engine] = getattr(import_module(module), attr)
    return engine


def profile_for(config: TenantConfig) -> AssistantProfile:
    """The tenant's assistant as the engines take it."""
    return AssistantProfile(
        model=config.model,
        instructions=config.instructions,
        assistant_id=config.assistant_id,
        max_tool_rounds=config.max_tool_rounds,
        history_window=config.history_window,
        temperature=config.temperature,
        context=config.context or "auto",
    )


def shared_http_client(settings: Settings) -> httpx2.AsyncClient:
    """The one connection pool every tenant's SDK client sends through.

    Every running turn holds one streamed request, so there is no cap on connections: a cap would
    cap the worker's open streams (the excess waited for a free connection, then failed with a pool
    timeout); the number of turns and the file descriptor limit bound it anyway. Either transport
    sends every call through the environment's proxy for its URL (:mod:`proxy.engines.proxied`).
    """
    if settings.provider_transport == "aiohttp":
        # the streamed turns over the wire client (llhttp parses their bodies in C, where httpx's
        # pure-Python HTTP/1.1 reader cost a tenth of a turn's CPU: bench/FINDINGS.md), the SDK's
        # other calls over one aiohttp session
        return ProviderPool(
            connect_timeout=settings.provider_connect_timeout, read_timeout=settings.provider_read_timeout
        )
    timeout = httpx2.Timeout(
        connect=settings.provider_connect_timeout,
        read=settings.provider_read_timeout,
        write=30.0,
        pool=settings.provider_connect_timeout,
    )
    limits = httpx2.Limits(max_connections=None, max_keepalive_connections=200, keepalive_expiry=KEEPALIVE_SECONDS)
    return HttpxPool(timeout=timeout, limits=limits)


def provider_client(tenant: Tenant, http_client: httpx2.AsyncClient, settings: Settings) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key=tenant.api_key,
        base_url=tenant.base_url,
        http_client=http_client,
        max_retries=settings.provider_max_retries,
    )


def build_engine(tenant: Tenant, http_client: httpx2.AsyncClient, settings: Settings) -> Engine:
    client = provider_client(tenant, http_client, settings)
    if isinstance(http_client, EnvironmentProxied):
        http_client.proxy_for(str(client.base_url))  # read (and logged) now: where its calls will go
    profile = profile_for(tenant.config)
    if tenant.config.engine == "responses":
        from proxy.engines.responses import ResponsesEngine

        # what a server offers is asked once per base URL for every tenant over this pool
        return ResponsesEngine(client, profile, probes=probes_for(http_client))
    return engine_class(tenant.config.engine)(client, profile)
