"""Shop commands: ``sync stripe|airbyte|embeddings``, ``seed-demo``, ``tools list|call``, ``identity-token``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import anyio

from proxy.errors import ProxyError
from proxy.tenants import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from proxy.runtime import Runtime
    from proxy.tenants import Tenant
    from proxy.tools.registry import ToolRegistry

RegistryFactory = Callable[[], "ToolRegistry"]


class CommandError(ProxyError):
    """A command cannot run; the message is printed as is."""

    code = "invalid_command"


def _shop_registry() -> ToolRegistry:
    from proxy.shop.tools import register_shop_tools
    from proxy.tools.registry import ToolRegistry

    registry = ToolRegistry()
    register_shop_tools(registry)
    return registry


def _run(body: Callable[[Runtime], Awaitable[int]]) -> int:
    """Open the runtime, run ``body``, and turn expected failures into one line on stderr."""
    from proxy.runtime import open_runtime
    from proxy.shop.embedders import EmbeddingError
    from proxy.shop.source import ShopDataError
    from proxy.shop.stripe_client import StripeError
    from proxy.shop.stripe_sync import SyncError

    async def main() -> int:
        async with open_runtime() as runtime:
            return await body(runtime)

    try:
        return anyio.run(main)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except (CommandError, StripeError, SyncError, EmbeddingError, ShopDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _tenant(runtime: Runtime, name: str) -> Tenant:
    tenant = runtime.tenants.get(name)
    if tenant is None:
        raise CommandError(f"unknown tenant {name!r}; known: {', '.join(sorted(runtime.tenants.tenants)) or 'none'}")
    return tenant


@contextmanager
def _progress(label: str) -> Iterator[Callable[[str, int], None]]:
    """Live counters per object type (Stripe lists have no totals, so no percentages)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<22}"),
        BarColumn(),
        TextColumn("{task.completed:>7} records"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        tasks: dict[str, Any] = {}

        def update(name: str, count: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"{label} {name}", total=None)
            bar.update(tasks[name], completed=count)

        yield update


def _sync_stripe(args: argparse.Namespace) -> int:
    from proxy.shop.embedders import EmbedderCache
    from proxy.shop.stripe_sync import sync_stripe

    async def body(runtime: Runtime) -> int:
        tenant = _tenant(runtime, args.tenant)
        shop = tenant.config.shop
        if shop.source != "stripe":
            raise CommandError(f"tenant {tenant.name!r} reads its shop from {shop.source!r}, not Stripe (shop.source)")
        key = os.environ.get(shop.stripe_key_env or "") if shop.stripe_key_env else None
        if not key:
            raise CommandError(
                f"tenant {tenant.name!r}: set shop.stripe_key_env to a variable holding a restricted Stripe key"
                + (f" ({shop.stripe_key_env} is not set)" if shop.stripe_key_env else "")
            )
        embedder = EmbedderCache(runtime.tenants).get(tenant.name, shop)
        with _progress("stripe") as progress:
            summary = await sync_stripe(
                runtime.db, tenant.name, shop, api_key=key, embedder=embedder, full=args.full, progress=progress
            )
        print("\n".join(summary.lines()))
        return 0

    return _run(body)


def _sync_embeddings(args: argparse.Namespace) -> int:
    from proxy.shop.documents import refresh_documents
    from proxy.shop.embedders import EmbedderCache

    async def body(runtime: Runtime) -> int:
        tenant = _tenant(runtime, args.tenant)
        embedder = EmbedderCache(runtime.tenants).get(tenant.name, tenant.config.shop)
        with _progress("embed") as progress:
            stats = await refresh_documents(runtime.db, tenant.name, embedder, progress=progress)
        print(
            f"{stats.rendered} records rendered, {stats.embedded} embedded with {stats.embedder} ({stats.dims}"
            f" dims), {stats.deleted} removed"
        )
        return 0

    return _run(body)


def _sync_airbyte(args: argparse.Namespace) -> int:
    from proxy.shop.airbyte_check import check_airbyte
    from proxy.shop.embedders import EmbedderCache

    async def body(runtime: Runtime) -> int:
        tenant = _tenant(runtime, args.tenant)
        shop = tenant.config.shop
        if shop.source != "airbyte":
            raise CommandError(f"tenant {tenant.name!r} does not read Airbyte tables (shop.source is {shop.source!r})")
        embedder = EmbedderCache(runtime.tenants).get(tenant.name, shop)
        lines, usable = await check_airbyte(runtime.db, tenant.name, shop, embedder)
        print("\n".join(lines))
        return 0 if usable else 1

    return _run(body)


def _seed_demo(args: argparse.Namespace) -> int:
    from proxy.shop.demo_data import FULL, SMALL, seed_demo
    from proxy.shop.embedders import EmbedderCache, OfflineEmbedder
    from proxy.store.db import Database, resolve_database_url

    async def main() -> int:
        from proxy.settings import Settings
        from proxy.tenants import load_tenants

        settings = Settings()
        embedder: Any = OfflineEmbedder()
        try:  # the demo tenant's own embedder if it is configured; the offline one otherwise
            tenants = load_tenants(settings, provider_keys=False)
            if (tenant := tenants.get(args.tenant)) is not None:
                embedder = EmbedderCache(tenants).get(tenant.name, tenant.config.shop)
        except ConfigError:
            pass
        url = await resolve_database_url(settings.database_url, settings.embedded_database_dir)
        async with Database.connect(url, min_size=1, max_size=4) as db:
            summary = await seed_demo(db, args.tenant, embedder=embedder, size=SMALL if args.small else FULL)
        print(
            f"demo shop {summary.tenant!r}: {summary.products} products, {summary.prices} prices,"
            f" {summary.customers} customers,"
            f" {summary.invoices} invoices ({summary.lines} lines); {summary.embedded} embedded;"
            f" {summary.seconds:.1f} s"
        )
        return 0

    return anyio.run(main)


def _visitor(spec: str) -> Any:
    from proxy.visitors import Visitor

    if spec == "anonymous":
        return Visitor("cli:anonymous")
    if spec == "staff":
        return Visitor("cli:staff", "staff", "cli")
    if spec.startswith("identified:") and "@" in spec:
        email = spec.split(":", 1)[1]
        return Visitor(f"user:{email}", "identified", email, email)
    raise CommandError("--as must be anonymous, staff or identified:<email>")


def _tools_call(args: argparse.Namespace, factory: RegistryFactory) -> int:
    from proxy.shop.embedders import EmbedderCache
    from proxy.tools.registry import ToolContext, ToolServices

    async def body(runtime: Runtime) -> int:
        tenant = _tenant(runtime, args.tenant)
        registry = factory()
        if args.name not in registry:
            raise CommandError(f"unknown tool {args.name!r}; known: {', '.join(registry.names)}")
        ctx = ToolContext(
            tenant=tenant.name,
            thread_id="cli",
            visitor=_visitor(args.as_),
            tenant_config=tenant.config,
            db=runtime.db,
            services=ToolServices(embedders=EmbedderCache(runtime.tenants)),
        )
        outcome = await registry.subset([args.name]).dispatch(args.name, args.args, ctx)
        try:
            print(json.dumps(json.loads(outcome.output), indent=2, ensure_ascii=False))
        except ValueError:
            print(outcome.output)
        return 0 if outcome.ok else 1

    return _run(body)


def _tools_list(args: argparse.Namespace, factory: RegistryFactory) -> int:
    registry = factory()
    for tool in registry.subset(registry.names):
        print(json.dumps(tool.responses_schema(), indent=2) if args.schemas else f"{tool.name:<18} {tool.description}")
    return 0


def _identity_token(args: argparse.Namespace) -> int:
    from proxy.identity import issue_identity_token

    async def body(runtime: Runtime) -> int:
        tenant = _tenant(runtime, args.tenant)
        if not tenant.identity_secret:
            raise CommandError(f"tenant {tenant.name!r} has no identity_secret_env")
        print(
            issue_identity_token(
                secret=tenant.identity_secret,
                tenant=tenant.name,
                sub=args.sub,
                email=args.email,
                staff=args.staff,
                ttl=args.ttl,
            )
        )
        return 0

    return _run(body)


def register_cli(subparsers: Any, registry_factory: RegistryFactory | None = None) -> None:
    """Add the shop commands to the main parser; each sets ``handler(args) -> int``."""
    factory = registry_factory or _shop_registry

    sync = subparsers.add_parser("sync", help="bring shop data in: stripe, airbyte (indexes), embeddings")
    kinds = sync.add_subparsers(dest="sync_kind", required=True)
    stripe = kinds.add_parser("stripe", help="pull customers, products, prices and invoices from Stripe")
    stripe.add_argument("--tenant", required=True)
    stripe.add_argument("--full", action="store_true", help="list everything again and reconcile deletions")
    stripe.set_defaults(handler=_sync_stripe)
    airbyte = kinds.add_parser(
        "airbyte", help="check a tenant's Airbyte tables, (re-)create their indexes, say what each tool can answer"
    )
    airbyte.add_argument("--tenant", required=True)
    airbyte.set_defaults(handler=_sync_airbyte)
    embeddings = kinds.add_parser(
        "embeddings", help="re-render and re-embed a tenant's records (after changing the embedder)"
    )
    embeddings.add_argument("--tenant", required=True)
    embeddings.set_defaults(handler=_sync_embeddings)

    seed = subparsers.add_parser("seed-demo", help="load the deterministic demo shop")
    seed.add_argument("--tenant", default="demo")
    seed.add_argument("--small", action="store_true", help="40 products, 200 customers, 1,000 invoices")
    seed.set_defaults(handler=_seed_demo)

    tools = subparsers.add_parser("tools", help="list the tools, or call one as a given visitor")
    actions = tools.add_subparsers(dest="tools_action", required=True)
    listing = actions.add_parser("list")
    listing.add_argument("--schemas", action="store_true")
    listing.set_defaults(handler=lambda a: _tools_list(a, factory))
    call = actions.add_parser("call")
    call.add_argument("name")
    call.add_argument("--tenant", required=True)
    call.add_argument("--args", default="{}", help="JSON object of arguments")
    call.add_argument("--as", dest="as_", default="staff", help="anonymous | identified:<email> | staff (default)")
    call.set_defaults(handler=lambda a: _tools_call(a, factory))

    token = subparsers.add_parser("identity-token", help="mint a visitor identity token, as the host site would")
    token.add_argument("--tenant", required=True)
    token.add_argument("--sub", required=True, help="the user's id on the host site")
    token.add_argument("--email")
    token.add_argument("--staff", action="store_true")
    token.add_argument("--ttl", type=int, default=3600)
    token.set_defaults(handler=_identity_token)
