"""``python -m proxy people export|erase --tenant T (--email E | --visitor-id V | --user-id U)``.

``export`` prints the JSON document (or writes it with ``--out``); ``erase`` asks for ``--yes``,
erases, deletes the provider-side copies when the tenant's provider key is set here (otherwise
the running service's retention task deletes them) and prints what the audit row records.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import anyio

from proxy.leads import erasure


def _subject(args: argparse.Namespace) -> erasure.Subject:
    named = [(kind, value) for kind in erasure.SUBJECT_KINDS if (value := getattr(args, kind))]
    if len(named) != 1:
        raise SystemExit("name the person by exactly one of --email, --visitor-id or --user-id")
    kind, value = named[0]
    return erasure.Subject(args.tenant, kind, value.strip())


async def _run(args: argparse.Namespace, subject: erasure.Subject) -> dict[str, Any]:
    from proxy.runtime import open_runtime

    async with open_runtime() as runtime:
        tenant = runtime.tenants.get(subject.tenant)
        if tenant is None:
            raise SystemExit(f"no tenant {subject.tenant!r} (tenants: {', '.join(t.name for t in runtime.tenants)})")
        if args.action == "export":
            return await erasure.export(runtime.db, subject)
        if tenant.api_key is None:
            return await erasure.erase(runtime.db, subject, requested_via="cli")
        from proxy.engines.factory import build_engine, shared_http_client

        async with shared_http_client(runtime.settings) as http:
            engine = build_engine(tenant, http, runtime.settings)
            try:
                return await erasure.erase(runtime.db, subject, requested_via="cli", engines={tenant.name: engine})
            finally:
                await engine.aclose()


def run_people(args: argparse.Namespace) -> int:
    from proxy.tenants import ConfigError

    subject = _subject(args)
    if args.action == "erase" and not args.yes:
        print("erasing cannot be undone: add --yes (export first with `people export`)", file=sys.stderr)
        return 2
    try:
        result = anyio.run(_run, args, subject)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2, ensure_ascii=False, default=str)
    if args.action == "export" and args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.out}: {len(result['conversations'])} conversation(s), {len(result['leads'])} lead(s)")
    else:
        print(text)
    return 0


def register_cli(subparsers: Any) -> None:
    """Add ``people`` to ``python -m proxy``'s sub-commands."""
    people = subparsers.add_parser("people", help="export or erase everything held about one person")
    people.add_argument("action", choices=("export", "erase"))
    people.add_argument("--tenant", required=True)
    people.add_argument("--email", default=None)
    people.add_argument("--visitor-id", dest="visitor_id", default=None, help="the widget's visitor id")
    people.add_argument("--user-id", dest="user_id", default=None, help="the host site's user id (identity tokens)")
    people.add_argument("--out", default=None, help="export: write the JSON document to this file")
    people.add_argument("--yes", action="store_true", help="erase: yes, erase it")
    people.set_defaults(handler=run_people)
