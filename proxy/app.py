"""``create_app(settings)`` -> the Litestar application: routes, CORS, errors, lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import httpx2
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.middleware._internal.cors import CORSMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.types import ASGIApp
from psycopg import OperationalError

from proxy import __version__
from proxy.api.compat import CompatController
from proxy.api.cors import LeanCORSMiddleware
from proxy.api.database import database_unavailable_handler
from proxy.api.deps import AppServices, provide_caller
from proxy.api.errors import exception_handlers
from proxy.api.frontends import AguiController, UIChatController
from proxy.api.health import healthz, readyz
from proxy.api.metrics import metrics
from proxy.api.middleware import LeanExceptionHandlerMiddleware, front_door, lean_exceptions
from proxy.api.threads import ThreadController
from proxy.console.routes import console_routes
from proxy.console.runtime import open_console
from proxy.console.visitor import thread_live
from proxy.engines.base import Engine
from proxy.engines.checks import log_provider_checks
from proxy.engines.factory import build_engine, shared_http_client
from proxy.leads.admin import LeadsAdminController
from proxy.leads.erasure_api import PeopleAdminController
from proxy.leads.tools import register_lead_tools
from proxy.leads.worker import run_outbox_worker
from proxy.limits.limiter import RateLimiter
from proxy.limits.settings import LimitSettings
from proxy.mail.settings import MailSettings
from proxy.observability.access import AccessLog
from proxy.observability.logging import configure_logging
from proxy.observability.metrics import prometheus_config
from proxy.runtime import open_runtime
from proxy.services import Services
from proxy.settings import Settings
from proxy.shop.embedders import EmbedderCache
from proxy.shop.tools import register_shop_tools
from proxy.signals import draining_on_signals
from proxy.store.event_log import EventLog
from proxy.store.pruning import pruning
from proxy.store.retention import running_retention
from proxy.store.threads import ThreadStore
from proxy.tenants import ConfigError, Tenant, TenantDirectory, load_tenants
from proxy.tools.registry import ToolRegistry, ToolServices
from proxy.turns.admission import Admission
from proxy.turns.channel import WRITE_PAUSE
from proxy.turns.leases import keeping_leases
from proxy.turns.manager import TurnManager
from proxy.turns.provider_deletes import running_provider_deletes
from proxy.turns.remote_cancel import relaying_cancels
from proxy.turns.runner import TurnServices
from proxy.usage.budget import BudgetGuard
from proxy.widget.routes import widget_routes

EngineFactory = Callable[[Tenant, httpx2.AsyncClient, Settings], Engine]
_CHECK_TIMEOUT = 30.0  # seconds for the start-up check of a tenant's provider
# allocations (less frees) between two young-generation collections while the app serves, instead
# of CPython's 700: under 200 chats the young collections took ~10 % of the worker's CPU (a chat's
# start and relay allocate many short-lived objects, few of them in cycles), 2.5 % with this; each
# collection pauses the loop longer (~15 ms instead of ~1 ms), and a burst of 200 new chats on one
# worker measured no worse a tail for it (+TTFT p99 197-224 ms, 175-198 ms with 5000, against
# 263-355 ms with 700, on a busy 2-core machine)
GC_YOUNG_THRESHOLD = 20000


async def _check_providers(scope: anyio.CancelScope, engines: dict[str, Engine]) -> None:
    with scope:
        await log_provider_checks(engines, _CHECK_TIMEOUT)


class ProxyApp(Litestar):
    """The application, with :class:`LeanCORSMiddleware` and
    :class:`~proxy.api.middleware.LeanExceptionHandlerMiddleware` in the place of Litestar's."""

    def _create_asgi_handler(self) -> ASGIApp:
        handler = super()._create_asgi_handler()
        if type(handler) is CORSMiddleware:
            return LeanCORSMiddleware(app=lean_exceptions(handler.app), config=handler.config)
        return lean_exceptions(handler)

    def log_access(self, access: AccessLog) -> None:
        """Have those two write ``access``'s lines of the requests no route sees (what the router
        refused, preflights); the routes' are :class:`~proxy.api.middleware.FrontDoor`'s."""
        handler = self.asgi_handler
        if isinstance(handler, LeanCORSMiddleware):
            handler.access = access
            handler = handler.app
        if isinstance(handler, LeanExceptionHandlerMiddleware):
            handler.access = access


def default_tools() -> ToolRegistry:
    """Every tool the product ships; tenants enable the ones they want."""
    registry = ToolRegistry()
    register_shop_tools(registry)
    register_lead_tools(registry)
    return registry


def check_tools(tenants: TenantDirectory, tools: ToolRegistry) -> None:
    for tenant in tenants:
        unknown = [name for name in tenant.config.tools if name not in tools]
        if unknown:
            raise ConfigError(
                f"tenant {tenant.name!r}: field 'tools': unknown {', '.join(unknown)}"
                f" (available: {', '.join(tools.names) or 'none'})"
            )


def create_app(
    settings: Settings | None = None,
    *,
    tenants: TenantDirectory | None = None,
    tools: ToolRegistry | None = None,
    engine_factory: EngineFactory = build_engine,
    mail_settings: MailSettings | None = None,
    limit_settings: LimitSettings | None = None,
    admission: Admission | None = None,
) -> Litestar:
    """``admission`` decides when new turns are refused; it, ``mail_settings`` and ``limit_settings``
    default to what ``settings`` says."""
    settings = settings or Settings()
    mail_settings = mail_settings or settings.mail
    limit_settings = limit_settings or settings.limits
    tenants = tenants or load_tenants(settings)
    tools = tools or default_tools()
    check_tools(tenants, tools)
    services = AppServices()  # the ``services`` dependency: set by the lifespan

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            runtime = await stack.enter_async_context(open_runtime(settings, tenants=tenants))
            http_client = await stack.enter_async_context(shared_http_client(settings))
            engines = {tenant.name: engine_factory(tenant, http_client, settings) for tenant in tenants}
            # before the turns' task group, so it closes after their last epilogue
            provider_deletes = await stack.enter_async_context(running_provider_deletes(runtime.db))
            await stack.enter_async_context(run_outbox_worker(runtime.db, mail_settings))
            limiter = await stack.enter_async_context(RateLimiter.open(limit_settings))
            task_group = await stack.enter_async_context(anyio.create_task_group())
            checks = anyio.CancelScope()  # what each provider offers, logged; never holds up start-up
            task_group.start_soon(_check_providers, checks, engines)
            threads = ThreadStore(runtime.db)
            event_log = EventLog(runtime.db, threads=threads)
            await stack.enter_async_context(
                pruning(
                    runtime.db, event_log, every=settings.prune_interval, outbox_keep_days=settings.outbox_keep_days
                )
            )
            app.state.console = console = await stack.enter_async_context(open_console(runtime.db))
            gate = await stack.enter_async_context((admission or Admission.from_settings(settings)).watching())
            turn_services = TurnServices(
                threads=threads,
                event_log=event_log,
                budgets=BudgetGuard(runtime.db, [tenant.config for tenant in tenants]),
                engines=engines,
                toolsets={tenant.name: tools.subset(tenant.config.tools) for tenant in tenants},
                tool_services=ToolServices(embedders=EmbedderCache(tenants), marks=console.marks),
                provider_deletes=provider_deletes,
                timeout=settings.turn_timeout,
                lease=settings.turn_lease,
            )
            turns = TurnManager(task_group, turn_services, disconnect_grace=settings.disconnect_grace, admission=gate)
            WRITE_PAUSE.longest = settings.write_pause_max  # how long streams pause between writes
            await stack.enter_async_context(relaying_cancels(runtime.db, turns))
            await stack.enter_async_context(running_retention(runtime.db, tenants, engines, settings.retention))
            await stack.enter_async_context(keeping_leases(turns))
            # SIGTERM/SIGINT drain the turns before uvicorn closes connections (see proxy.signals)
            await stack.enter_async_context(draining_on_signals(lambda: turns.drain(settings.shutdown_grace)))
            app.state.services = services.current = Services(
                settings=settings,
                tenants=tenants,
                db=runtime.db,
                tools=tools,
                engines=engines,
                turns=turns,
                limiter=limiter,
            )
            # what start-up made lives as long as the app: out of the collector's way, since a full
            # collection of it stopped the loop for ~150 ms (in a burst of new chats, every chat's wait)
            gc.collect()
            gc.freeze()
            thresholds = gc.get_threshold()
            gc.set_threshold(GC_YOUNG_THRESHOLD, *thresholds[1:])
            try:
                yield
            finally:
                checks.cancel()
                await turns.drain(settings.shutdown_grace)
                gc.unfreeze()  # (an app started again in this process, as tests do, freezes its own)
                gc.set_threshold(*thresholds)

    access_log = AccessLog(enabled=settings.access_log)
    origin_regex = tenants.cors_origin_regex()
    cors = CORSConfig(
        allow_origins=[],
        allow_origin_regex=f"(?i){origin_regex}" if origin_regex else r"^$",
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=[
            "Content-Type",
            "Authorization",
            "X-Visitor-Id",
            "X-Identity-Token",
            "X-Request-ID",
            "Last-Event-ID",
        ],
        expose_headers=["Retry-After", "X-Request-ID"],
        max_age=600,
    )
    app = ProxyApp(
        route_handlers=[
            ThreadController,
            CompatController,
            UIChatController,
            AguiController,
            LeadsAdminController,
            PeopleAdminController,
            *widget_routes,
            *console_routes,
            thread_live,
            healthz,
            readyz,
            metrics,
        ],
        middleware=[front_door(prometheus_config(), settings.db_request_timeout, access_log)],
        dependencies={
            "caller": Provide(provide_caller),
            "services": Provide(services.services, sync_to_thread=False),
            "db": Provide(services.db, sync_to_thread=False),
        },
        exception_handlers={**exception_handlers, OperationalError: database_unavailable_handler},  # type: ignore[dict-item]
        cors_config=cors,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(title="assistant-proxy", version=__version__, path="/schema"),
        # logging is ours (proxy.observability.logging); Litestar's default would start a
        # non-daemon queue-listener thread per app, which keeps a process from exiting
        logging_config=None,
        lifespan=[lifespan],
    )
    app.log_access(access_log)
    return app


def serve_app() -> Litestar:
    """The factory ``python -m proxy serve`` hands uvicorn: each worker process sets up its logs."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format, batched=True)
    return create_app(settings)
