"""Tenants: who may talk to us, and with which assistant.

A tenant is found from the caller's origin (its domains, exact or ``*.`` wildcards) or, for
server-side clients that send no ``Origin``, from a client key. Secrets are never written in the
tenants file: it names environment variables that hold them.
"""

from __future__ import annotations

import functools
import hmac
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from proxy.engines.modes import ContextSetting
from proxy.errors import ProxyError
from proxy.leads.config import LeadsConfig
from proxy.limits.config import LimitsConfig
from proxy.settings import EngineName, Settings
from proxy.shop.config import ShopConfig
from proxy.store.retention import RetentionConfig
from proxy.usage.config import BudgetConfig
from proxy.widget.config import WidgetConfig

_HOST_RE = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


class ConfigError(ProxyError):
    """The tenants configuration cannot be used; the message names the tenant and the field."""

    code = "invalid_config"


@functools.lru_cache(maxsize=4096)  # every request's Origin goes through urlsplit otherwise; sites repeat
def normalize_host(value: str) -> str | None:
    """``https://WWW.Shop.com:8443/x`` -> ``shop.com``; a bare host works too; junk -> None."""
    value = value.strip()
    if not value or value == "null":
        return None
    if "://" not in value:
        value = "//" + value
    try:
        host = urlsplit(value).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".")
    return host[4:] if host.startswith("www.") else host


class TenantConfig(BaseModel):
    """One tenant as written in the tenants file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    domains: list[str] = Field(min_length=1)
    engine: EngineName = "responses"
    model: str = "gpt-4.1-mini"
    instructions: str = ""
    tools: list[str] = Field(default_factory=list)
    api_key_env: str | None = None
    base_url: str | None = None
    assistant_id: str | None = None
    lead_recipients: list[str] = Field(default_factory=list)
    client_key_envs: list[str] = Field(default_factory=list)
    max_tool_rounds: int = Field(8, ge=1, le=50)
    history_window: int = Field(20, ge=0, le=500)
    temperature: float | None = Field(None, ge=0, le=2)
    # responses engine: how the provider gets the conversation's context (None: PROXY_RESPONSES_CONTEXT)
    context: ContextSetting | None = None
    identity_secret_env: str | None = None  # HS256 secret the host site signs visitor tokens with
    # who answers when the provider fails (after its retries, before the visitor saw any of the reply)
    # or the daily hard budget cap is reached: "none" ends the turn with its `error` event or shows the
    # budget's blocked_message; "offline" lets the offline model answer from the shop's data
    fallback: Literal["none", "offline"] = "none"
    shop: ShopConfig = Field(default_factory=ShopConfig)
    leads: LeadsConfig = Field(default_factory=LeadsConfig)
    widget: WidgetConfig = Field(default_factory=WidgetConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)  # days kept; unset: PROXY_RETENTION_*

    @field_validator("domains")
    @classmethod
    def _check_domains(cls, domains: list[str]) -> list[str]:
        cleaned = []
        for domain in domains:
            wildcard = domain.strip().lower().startswith("*.")
            host = normalize_host(domain.strip()[2:] if wildcard else domain)
            if host is None or not _HOST_RE.match(host):
                raise ValueError(f"{domain!r} is not a host name such as shop.com or *.shop.com")
            cleaned.append(f"*.{host}" if wildcard else host)
        return cleaned

    @field_validator("context")
    @classmethod
    def _check_context(cls, context: ContextSetting | None, info: ValidationInfo) -> ContextSetting | None:
        engine = info.data.get("engine")
        if context is not None and engine != "responses":
            raise ValueError(
                f"only the responses engine has context modes (the {engine} engine keeps context its own way): "
                'remove it, or set engine = "responses"'
            )
        if context == "history" and info.data.get("history_window") == 0:
            raise ValueError('context = "history" sends the last history_window messages: set history_window above 0')
        return context


@dataclass(frozen=True, slots=True)
class Tenant:
    """A tenant with its secrets resolved from the environment."""

    config: TenantConfig
    api_key: str | None  # None only when loaded for commands that never call a model (provider_keys=False)
    client_keys: tuple[str, ...]
    base_url: str | None
    identity_secret: str | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def accepts_client_key(self, presented: str) -> bool:
        return any(hmac.compare_digest(presented.encode(), key.encode()) for key in self.client_keys)


class TenantDirectory:
    """Lookup of tenants by origin host and by client key."""

    def __init__(self, tenants: Iterable[Tenant]) -> None:
        self.tenants: dict[str, Tenant] = {}
        self._exact: dict[str, Tenant] = {}
        self._wildcards: list[tuple[str, Tenant]] = []
        for tenant in tenants:
            if tenant.name in self.tenants:
                raise ConfigError(f"tenant {tenant.name!r} is declared twice")
            self.tenants[tenant.name] = tenant
            for domain in tenant.config.domains:
                if domain.startswith("*."):
                    self._wildcards.append((domain[1:], tenant))  # ".shop.com"
                    continue
                other = self._exact.setdefault(domain, tenant)
                if other is not tenant:
                    raise ConfigError(
                        f"tenant {tenant.name!r}: field 'domains': {domain} already belongs to {other.name!r}"
                    )
        self._wildcards.sort(key=lambda item: -len(item[0]))  # most specific first

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.tenants.values())

    def __len__(self) -> int:
        return len(self.tenants)

    def get(self, name: str) -> Tenant | None:
        return self.tenants.get(name)

    def by_host(self, host: str) -> Tenant | None:
        tenant = self._exact.get(host)
        if tenant is not None:
            return tenant
        for suffix, candidate in self._wildcards:
            if host.endswith(suffix):
                return candidate
        return None

    def by_client_key(self, key: str) -> Tenant | None:
        for tenant in self.tenants.values():
            if tenant.accepts_client_key(key):
                return tenant
        return None

    def cors_origin_regex(self) -> str | None:
        """One regex for every tenant origin (any scheme, optional ``www.`` and port)."""
        parts = [re.escape(host) for host in self._exact]
        parts += [r"(?:[a-z0-9-]+\.)+" + re.escape(suffix[1:]) for suffix, _ in self._wildcards]
        if not parts:
            return None
        return r"^https?://(?:www\.)?(?:" + "|".join(parts) + r")(?::\d+)?$"


# -- loading -------------------------------------------------------------------------------------


def _describe(error: ValidationError, name: str) -> str:
    first = error.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "?"
    return f"tenant {name!r}: field {field!r}: {first['msg']}"


def _resolve(config: TenantConfig, settings: Settings, env: Mapping[str, str], provider_keys: bool = True) -> Tenant:
    if config.engine == "responses" and config.context is None:
        config = config.model_copy(update={"context": settings.responses_context})
        if config.context == "history" and config.history_window == 0:
            raise ConfigError(
                f"tenant {config.name!r}: field 'history_window': PROXY_RESPONSES_CONTEXT=history sends the last "
                "history_window messages: set history_window above 0, or a context of the tenant's own"
            )
    api_key = None
    if config.api_key_env:
        api_key = env.get(config.api_key_env) or None
    if api_key is None and not settings.simulator_url and provider_keys:
        wanted = config.api_key_env or "api_key_env"
        raise ConfigError(
            f"tenant {config.name!r}: field 'api_key_env': environment variable {wanted} is not set"
            " (set it, or run `python -m proxy demo` to use the local simulator)"
        )
    client_keys = []
    for var in config.client_key_envs:
        value = env.get(var)
        if not value:
            raise ConfigError(f"tenant {config.name!r}: field 'client_key_envs': {var} is not set")
        client_keys.append(value)
    identity_secret = None
    if config.identity_secret_env:
        identity_secret = env.get(config.identity_secret_env)
        if not identity_secret:
            raise ConfigError(
                f"tenant {config.name!r}: field 'identity_secret_env': {config.identity_secret_env} is not set"
            )
    base_url = config.base_url or settings.openai_base_url
    if api_key is None and settings.simulator_url:
        base_url = settings.simulator_url
        api_key = "sk-simulator"
    return Tenant(
        config=config,
        api_key=api_key,
        client_keys=tuple(client_keys),
        base_url=base_url,
        identity_secret=identity_secret,
    )


def _file_configs(path: Path) -> list[dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"tenants file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"tenants file {path} is not valid TOML: {exc}") from None
    tenants = data.get("tenants")
    if not isinstance(tenants, dict) or not tenants:
        raise ConfigError(f"tenants file {path} declares no [tenants.NAME] table")
    configs = []
    for name, body in tenants.items():
        if not isinstance(body, dict):
            raise ConfigError(f"tenant {name!r}: must be a table")
        configs.append({"name": name, **body})
    return configs


def _legacy_configs(settings: Settings) -> list[dict[str, Any]]:
    """The old parallel arrays: DOMAINS[i] gets OPENAI_API_KEYS[i], ASSISTANT_IDS[i], EMAIL_TO[i]."""
    domains = settings.legacy_domains
    keys, assistants, emails = settings.legacy_api_keys, settings.legacy_assistant_ids, settings.legacy_email_to
    if keys and len(keys) != len(domains):
        raise ConfigError(f"OPENAI_API_KEYS has {len(keys)} entries but DOMAINS has {len(domains)}")
    if assistants and len(assistants) != len(domains):
        raise ConfigError(f"ASSISTANT_IDS has {len(assistants)} entries but DOMAINS has {len(domains)}")
    if len(emails) not in (0, 1, len(domains)):
        raise ConfigError(f"EMAIL_TO has {len(emails)} entries: give one, or one per entry of DOMAINS")
    configs = []
    for i, domain in enumerate(domains):
        configs.append(
            {
                "name": normalize_host(domain) or domain,
                "domains": [domain],
                "engine": settings.legacy_engine,
                "model": settings.default_model,
                "instructions": settings.default_instructions,
                "api_key_env": f"OPENAI_API_KEYS[{i}]" if keys else None,
                "assistant_id": assistants[i] if assistants else None,
                "lead_recipients": [emails[0] if len(emails) == 1 else emails[i]] if emails else [],
                "tools": ["sendEmail"],  # the old assistants' one working function
            }
        )
    return configs


def load_tenants(
    settings: Settings, env: Mapping[str, str] | None = None, *, provider_keys: bool = True
) -> TenantDirectory:
    """Read the tenants file (or the old env arrays) and resolve secrets; raise ``ConfigError``.

    ``provider_keys=False`` is for commands that never call a model (tools, usage, tokens): a
    tenant whose provider key is not set is loaded anyway, with ``api_key`` None.
    """
    env = dict(os.environ if env is None else env)
    if settings.tenants_file is not None:
        raw = _file_configs(settings.tenants_file)
    else:
        raw = _legacy_configs(settings)
        env.update({f"OPENAI_API_KEYS[{i}]": key for i, key in enumerate(settings.legacy_api_keys)})
    if not raw:
        raise ConfigError("no tenants: set PROXY_TENANTS_FILE, or DOMAINS and OPENAI_API_KEYS")
    tenants = []
    for body in raw:
        try:
            config = TenantConfig.model_validate(body)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, str(body.get("name")))) from None
        tenants.append(_resolve(config, settings, env, provider_keys))
    return TenantDirectory(tenants)
