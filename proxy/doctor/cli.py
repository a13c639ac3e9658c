"""``python -m proxy doctor URL [--origin https://shop.com]``: PASS/FAIL per check, then the fixes.

Exit status 0 when nothing failed (warnings and skipped checks allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import anyio

from proxy.doctor.checks import Report, as_dict, run_checks
from proxy.doctor.fixes import FIX_FOR_CHECK, fix_for


def render(report: Report) -> str:
    lines = [
        f"assistant-proxy doctor: {report.url} as seen from {report.origin}",
        f"test message: {report.message!r}" + (" (the demo's simulator answers)" if report.demo else ""),
        "",
    ]
    width = max((len(r.title) for r in report.results), default=0)
    for result in report.results:
        lines.append(f"{result.status:<4}  {result.title:<{width}}  {result.detail}".rstrip())
    failed = [r for r in report.results if r.status == "FAIL"]
    if not failed:
        return "\n".join([*lines, "", "all checks passed"]) + "\n"
    lines += ["", "How to fix:"]
    shown: set[str] = set()
    for result in failed:
        key = FIX_FOR_CHECK.get(result.key)
        fix = fix_for(result.key)
        if fix is None or key in shown:
            continue
        shown.add(key or result.key)
        lines += ["", f"[{result.title}]", fix.render()]
    return "\n".join(lines) + "\n"


def run_provider_doctor(args: argparse.Namespace) -> int:
    from proxy.doctor.providers import check_tenant_providers, render_providers
    from proxy.settings import Settings
    from proxy.tenants import ConfigError, load_tenants

    settings = Settings()
    try:
        tenants = load_tenants(settings)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    results = anyio.run(lambda: check_tenant_providers(settings, tenants, args.timeout))
    if args.json:
        print(json.dumps([{"key": r.key, "title": r.title, "status": r.status, "detail": r.detail} for r in results]))
    else:
        sys.stdout.write(render_providers(results))
    return 1 if any(r.status == "FAIL" for r in results) else 0


def run_doctor(args: argparse.Namespace) -> int:
    if args.providers:
        return run_provider_doctor(args)
    if not args.url:
        print("doctor: give the proxy's public URL, or --providers to check the tenants' providers", file=sys.stderr)
        return 2
    report = anyio.run(
        lambda: run_checks(
            args.url,
            args.origin,
            message=args.message,
            paced=True if args.paced else None,
            idle=args.idle,
            timeout=args.timeout,
        )
    )
    if args.json:
        print(json.dumps(as_dict(report), indent=2))
    else:
        sys.stdout.write(render(report))
    return 0 if report.ok else 1


def register_cli(subparsers: Any) -> None:
    """Add ``doctor`` to ``python -m proxy``'s sub-commands."""
    doctor = subparsers.add_parser(
        "doctor",
        help="check a deployment from outside: CORS, unbuffered streaming, compression, /widget.js",
        description="Checks a deployment the way a browser on the tenant's site would, and prints fixes for "
        "nginx, Caddy and Cloudflare. It creates one thread (deleted afterwards) and sends one message.",
    )
    doctor.add_argument("url", nargs="?", help="the proxy's public base URL, e.g. https://chat.shop.com")
    doctor.add_argument(
        "--providers",
        action="store_true",
        help="instead: ask each tenant's provider (this machine's configuration) whether it offers what the "
        "tenant's engine and context setting need",
    )
    doctor.add_argument("--origin", default=None, help="the site the widget runs on (default: the URL's own origin)")
    doctor.add_argument(
        "--message", default=None, help="the test message (default: paced for the demo, else a short question)"
    )
    doctor.add_argument("--paced", action="store_true", help="the provider is the simulator: ask for a paced reply")
    doctor.add_argument(
        "--idle", type=float, default=0.0, help="demo only: stay quiet this long to see heartbeats (e.g. 20)"
    )
    doctor.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for any one response")
    doctor.add_argument("--json", action="store_true", help="print the results as JSON")
    doctor.set_defaults(handler=run_doctor)
