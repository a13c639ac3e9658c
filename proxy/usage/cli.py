"""``python -m proxy usage [--days 7] [--tenant T]``: token usage per day, tenant and model.

Below the table, each tenant with a budget shows today's total against its caps, so an operator
sees at a glance who is about to fall back to the cheaper model or stop answering.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import anyio

from proxy.usage.budget import BudgetGuard
from proxy.usage.store import UsageRow, UsageStore

HEADERS = ("day", "tenant", "model", "turns", "input", "output", "total")


def _n(value: int) -> str:
    return f"{value:,}"


def render_table(rows: Sequence[Sequence[str]], headers: Sequence[str] = HEADERS, numeric_from: int = 3) -> str:
    """A plain-text table; columns from ``numeric_from`` on are right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(cell).rjust(width) if i >= numeric_from else str(cell).ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def usage_report(rows: Sequence[UsageRow], *, days: int, since: date) -> str:
    if not rows:
        return f"no usage recorded since {since.isoformat()} ({days} day{'s' if days != 1 else ''})"
    body = [
        (
            row.day.isoformat(),
            row.tenant,
            row.model,
            _n(row.turns),
            _n(row.input_tokens),
            _n(row.output_tokens),
            _n(row.total_tokens),
        )
        for row in rows
    ]
    body.append(
        (
            "all",
            f"{len({r.tenant for r in rows})} tenant(s)",
            "",
            _n(sum(r.turns for r in rows)),
            _n(sum(r.input_tokens for r in rows)),
            _n(sum(r.output_tokens for r in rows)),
            _n(sum(r.total_tokens for r in rows)),
        )
    )
    return render_table(body)


def budget_lines(statuses: Sequence[tuple[str, int, Any]]) -> list[str]:
    """``(tenant, used today, BudgetConfig)`` -> one line each for the tenants that have caps."""
    lines = []
    for name, used, budget in statuses:
        if not budget.capped:
            continue
        parts = [f"{name}: {_n(used)} tokens today ({budget.timezone})"]
        if budget.daily_soft_tokens:
            parts.append(f"soft cap {_n(budget.daily_soft_tokens)} -> {budget.fallback_model}")
        if budget.daily_hard_tokens:
            parts.append(f"hard cap {_n(budget.daily_hard_tokens)}")
        state = (
            "blocked"
            if budget.daily_hard_tokens and used >= budget.daily_hard_tokens
            else ("fallback" if budget.daily_soft_tokens and used >= budget.daily_soft_tokens else "normal")
        )
        lines.append(", ".join(parts) + f": {state}")
    return lines


async def _report(days: int, tenant: str | None) -> str:
    from proxy.runtime import open_runtime

    async with open_runtime() as runtime:
        store = UsageStore(runtime.db)
        since = datetime.now(UTC).date() - timedelta(days=days - 1)
        rows = await store.rows(since=since, tenant=tenant)
        out = [usage_report(rows, days=days, since=since)]
        guard = BudgetGuard(store, [t.config for t in runtime.tenants], cache_seconds=0)
        statuses = []
        for t in runtime.tenants:
            if tenant is None or t.name == tenant:
                used = await guard.used_today(t.config) if t.config.budget.capped else 0
                statuses.append((t.name, used, t.config.budget))
        budgets = budget_lines(statuses)
        if budgets:
            out += ["", "budgets today:", *(f"  {line}" for line in budgets)]
        return "\n".join(out)


def run_usage(args: argparse.Namespace) -> int:
    from proxy.tenants import ConfigError

    if args.days < 1:
        print("--days must be at least 1", file=sys.stderr)
        return 2
    try:
        print(anyio.run(_report, args.days, args.tenant))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


def register_cli(subparsers: Any) -> None:
    """Add ``usage`` to ``python -m proxy``'s sub-commands."""
    usage = subparsers.add_parser("usage", help="token usage per day, tenant and model, and today's budgets")
    usage.add_argument("--days", type=int, default=7, help="how many days back, today included (default 7)")
    usage.add_argument("--tenant", default=None, help="only this tenant")
    usage.set_defaults(handler=run_usage)
