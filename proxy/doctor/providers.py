"""``python -m proxy doctor --providers``: ask each tenant's provider, from this machine's
configuration, whether it offers what the tenant's engine and context setting need.

The same questions the service asks (and logs) at start-up: for the responses engine, whether the
Conversations API is there and whether responses are stored; the answer says which setting to
change when the configuration asks for something the provider lacks.
"""

from __future__ import annotations

from proxy.doctor.checks import CheckResult
from proxy.engines.base import EngineError
from proxy.engines.checks import check_providers
from proxy.engines.factory import build_engine, shared_http_client
from proxy.settings import Settings
from proxy.tenants import TenantDirectory


async def check_tenant_providers(settings: Settings, tenants: TenantDirectory, timeout: float) -> list[CheckResult]:
    async with shared_http_client(settings) as http_client:
        engines = {tenant.name: build_engine(tenant, http_client, settings) for tenant in tenants}
        found = await check_providers(engines, timeout)
    results = []
    for tenant in tenants:
        title = (
            f"tenant {tenant.name}: {tenant.config.engine} engine at {tenant.base_url or 'https://api.openai.com/v1'}"
        )
        answer = found.get(tenant.name)
        if answer is None:
            results.append(CheckResult(f"provider:{tenant.name}", title, "SKIP", "nothing to ask for this engine"))
        elif isinstance(answer, EngineError):
            results.append(CheckResult(f"provider:{tenant.name}", title, "FAIL", answer.message))
        else:
            results.append(CheckResult(f"provider:{tenant.name}", title, "PASS", answer))
    return results


def render_providers(results: list[CheckResult]) -> str:
    lines = ["assistant-proxy doctor: the tenants' providers, from this machine's configuration", ""]
    for result in results:
        lines += [f"{result.status:<4}  {result.title}", f"      {result.detail}"]
    failed = sum(r.status == "FAIL" for r in results)
    lines += ["", f"{failed} tenant(s) need a change" if failed else "all providers offer what their tenants need"]
    return "\n".join(lines) + "\n"
