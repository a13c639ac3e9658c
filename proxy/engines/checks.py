"""Asking each tenant's provider whether it offers what the tenant's configuration needs.

Run in the background at start-up (the answers go to the log; nothing is refused, as a provider
that is down now may be back for the first visitor) and by ``python -m proxy doctor --providers``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import anyio

from proxy.engines.base import Engine, EngineError

logger = logging.getLogger(__name__)


async def check_providers(engines: Mapping[str, Engine], timeout: float) -> dict[str, str | EngineError]:
    """Per tenant with something to check: a line saying what was found, or the error to act on."""
    results: dict[str, str | EngineError] = {}

    async def one(tenant: str, engine: Engine) -> None:
        try:
            with anyio.fail_after(timeout):
                line = await engine.check_provider()
        except EngineError as exc:
            results[tenant] = exc
        except TimeoutError:
            results[tenant] = EngineError("upstream_timeout", f"The AI provider did not answer within {timeout:g} s.")
        else:
            if line is not None:
                results[tenant] = line

    async with anyio.create_task_group() as tg:
        for tenant, engine in engines.items():
            tg.start_soon(one, tenant, engine)
    return {tenant: results[tenant] for tenant in engines if tenant in results}


async def log_provider_checks(engines: Mapping[str, Engine], timeout: float) -> None:
    for tenant, result in (await check_providers(engines, timeout)).items():
        if isinstance(result, EngineError):
            logger.error("tenant %s: %s", tenant, result.message, extra={"tenant": tenant, "code": result.code})
        else:
            logger.info("tenant %s: %s", tenant, result, extra={"tenant": tenant})
