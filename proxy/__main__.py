"""Command line: ``python -m proxy serve | demo | migrate | simulate``."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

import anyio

from proxy.doctor.cli import register_cli as register_doctor_cli
from proxy.leads.erasure_cli import register_cli as register_people_cli
from proxy.observability.logging import configure_logging
from proxy.settings import Settings
from proxy.settings.sample import register_cli as register_settings_cli
from proxy.shop.cli import register_cli as register_shop_cli
from proxy.signals import terminate_as_interrupt
from proxy.tenants import ConfigError
from proxy.tools.registry import ToolRegistry
from proxy.usage.cli import register_cli as register_usage_cli


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from proxy.app import create_app
    from proxy.serving import server_options, shared_metrics, worker_count

    settings = Settings()
    try:
        workers = worker_count(args.workers)
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        create_app(settings)  # fail here, with a clear message, rather than in every worker
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    with shared_metrics(workers):
        uvicorn.run(
            "proxy.app:serve_app",
            factory=True,
            host=args.host or settings.host,
            port=args.port or settings.port,
            workers=workers,
            log_level=settings.log_level,
            log_config=None,  # our JSON logging (configured in main) covers uvicorn's loggers too
            access_log=False,  # ours is written when a request ends (proxy.observability.access)
            proxy_headers=False,  # X-Forwarded-For is trusted only from PROXY_TRUSTED_PROXIES, by us
            timeout_graceful_shutdown=settings.server_shutdown_timeout,
            **server_options(settings),  # bounds on request headers (size, time to send them)
        )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from proxy.runtime import open_runtime
    from proxy.store.migrate import apply_migrations

    async def run() -> list[str]:
        async with open_runtime() as runtime, runtime.db.connection() as conn:
            return await apply_migrations(conn)

    try:
        applied = anyio.run(run)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    print("database is up to date" + (" (applied at start-up)" if not applied else f" (applied {', '.join(applied)})"))
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from proxy.simulator import SimulatorConfig, run_simulator

    config = SimulatorConfig(
        ttft_ms=args.ttft_ms,
        token_gap_ms=args.gap_ms,
        reply_tokens=args.tokens,
        model=args.model,
        conversations_api=not args.no_conversations,
        store_responses=not args.no_store,
    )
    run_simulator(args.host, args.port, config)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from proxy.demo import run_demo

    return run_demo(host=args.host, port=args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m proxy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the service (uvicorn)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: $WEB_CONCURRENCY, else one per CPU core this process may use)",
    )
    serve.set_defaults(handler=_serve)

    demo = commands.add_parser("demo", help="run everything locally: embedded Postgres, simulator, demo shop")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(handler=_demo)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(handler=_migrate)

    simulate = commands.add_parser("simulate", help="run the local OpenAI-protocol simulator")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=8100)
    simulate.add_argument("--ttft-ms", type=int, default=200)
    simulate.add_argument("--gap-ms", type=int, default=20)
    simulate.add_argument("--tokens", type=int, default=40)
    simulate.add_argument(
        "--model", choices=["offline", "echo"], default="offline", help="who answers messages without directives"
    )
    simulate.add_argument(
        "--no-conversations", action="store_true", help="answer /v1/conversations with 404, as LiteLLM and vLLM do"
    )
    simulate.add_argument(
        "--no-store", action="store_true", help="store no responses: previous_response_id is always unknown"
    )
    simulate.set_defaults(handler=_simulate)

    register_shop_cli(commands, registry_factory=_all_tools)
    register_usage_cli(commands)
    register_doctor_cli(commands)
    register_people_cli(commands)
    register_settings_cli(commands)
    return parser


def _all_tools() -> ToolRegistry:
    from proxy.app import default_tools

    return default_tools()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in ("serve", "demo"):
        from proxy.demo_files import use_demo_files

        use_demo_files()  # with nothing else configured, right after `demo`: the demo's tenant and secrets
    settings = Settings()
    # people read `demo` and the one-off commands; machines read the service's logs
    fmt = settings.log_format if args.command == "serve" else "text"
    configure_logging(settings.log_level, fmt)
    # SIGTERM unwinds like Ctrl+C: an embedded Postgres the command started is stopped on the way out
    with terminate_as_interrupt() as terminated:
        try:
            return int(args.handler(args))
        except KeyboardInterrupt:
            return 128 + (signal.SIGTERM if terminated else signal.SIGINT)


if __name__ == "__main__":
    sys.exit(main())
