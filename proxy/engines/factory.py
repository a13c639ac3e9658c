"""Build each tenant's engine: one OpenAI SDK client per tenant over one shared connection pool."""

from __future__ import annotations

from importlib import import_module

import httpx2
import openai

from proxy.engines.base import Engine
from proxy.settings import Settings
from proxy.tenants import Tenant

ENGINE_CLASSES = {
    "responses": "proxy.engines.responses:ResponsesEngine",
    "assistants": "proxy.engines.assistants:AssistantsEngine",
    "chat": "proxy.engines.chat:ChatEngine",
}


def engine_class(name: str) -> type[Engine]:
    module, _, attr = ENGINE_CLASSES[name].partition(":")
    return getattr(import_module(module), attr)


def shared_http_client(settings: Settings) -> httpx2.AsyncClient:
    timeout = httpx2.Timeout(
        connect=settings.provider_connect_timeout,
        read=settings.provider_read_timeout,
        write=30.0,
        pool=settings.provider_connect_timeout,
    )
    # every running turn holds one streamed request: a cap here caps the worker's open streams (the
    # 2,001st waited for a free connection, then failed with a pool timeout); the number of turns and
    # the file descriptor limit bound it anyway
    limits = httpx2.Limits(max_connections=None, max_keepalive_connections=200, keepalive_expiry=30)
    return httpx2.AsyncClient(timeout=timeout, limits=limits, follow_redirects=True)


def provider_client(tenant: Tenant, http_client: httpx2.AsyncClient, settings: Settings) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key=tenant.api_key,
        base_url=tenant.base_url,
        http_client=http_client,
        max_retries=settings.provider_max_retries,
    )


def build_engine(tenant: Tenant, http_client: httpx2.AsyncClient, settings: Settings) -> Engine:
    client = provider_client(tenant, http_client, settings)
    return engine_class(tenant.config.engine)(client, tenant.config.profile())
