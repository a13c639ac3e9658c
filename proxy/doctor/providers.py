"""``python -m proxy doctor --providers``: ask each tenant's provider, from this machine's
configuration, whether it offers what the tenant's engine and context setting need.

The same questions the service asks (and logs) at start-up: for the responses engine, whether the
Conversations API is there and whether responses are stored; the answer says which setting to
change when the configuration asks for something the provider lacks. And, for every tenant, where
its provider calls go: direct or through which proxy of the environment (a proxy setting that is
ignored is a warning, one that fails every call a failure).
"""

from __future__ import annotations

from dataclasses import replace

from proxy.doctor.checks import CheckResult
from proxy.engines.base import EngineError
from proxy.engines.checks import check_providers
from proxy.engines.factory import build_engine, shared_http_client
from proxy.engines.proxy_routes import ProxyRoute, proxy_route
from proxy.settings import Settings
from proxy.tenants import TenantDirectory

ROUTE_PREFIX = "provider calls: "  # the detail's last line: where the calls go


async def check_tenant_providers(settings: Settings, tenants: TenantDirectory, timeout: float) -> list[CheckResult]:
    async with shared_http_client(settings) as http_client:
        engines = {tenant.name: build_engine(tenant, http_client, settings) for tenant in tenants}
        found = await check_providers(engines, timeout)
    results = []
    for tenant in tenants:
        base_url = tenant.base_url or "https://api.openai.com/v1"
        title = f"tenant {tenant.name}: {tenant.config.engine} engine at {base_url}"
        answer = found.get(tenant.name)
        if answer is None:
            result = CheckResult(f"provider:{tenant.name}", title, "SKIP", "nothing to ask for this engine")
        elif isinstance(answer, EngineError):
            result = CheckResult(f"provider:{tenant.name}", title, "FAIL", answer.message)
        else:
            result = CheckResult(f"provider:{tenant.name}", title, "PASS", answer)
        results.append(_with_route(result, proxy_route(base_url)))
    return results


def _with_route(result: CheckResult, route: ProxyRoute) -> CheckResult:
    """``result`` with where its calls go as its detail's last line; a proxy setting that fails
    every call fails it, one that is ignored makes a pass a warning."""
    status = result.status
    if route.fails:
        status = "FAIL"
    elif route.problem is not None and status in ("PASS", "SKIP"):
        status = "WARN"
    return replace(result, status=status, detail=f"{result.detail}\n{ROUTE_PREFIX}{route.describe()}")


def render_providers(results: list[CheckResult]) -> str:
    lines = ["assistant-proxy doctor: the tenants' providers, from this machine's configuration", ""]
    for result in results:
        lines += [f"{result.status:<4}  {result.title}", *(f"      {line}" for line in result.detail.splitlines())]
    failed = sum(r.status == "FAIL" for r in results)
    lines += ["", f"{failed} tenant(s) need a change" if failed else "all providers offer what their tenants need"]
    return "\n".join(lines) + "\n"
