"""``python -m bench.ab OTHER_CHECKOUT``: before/after runs of our proxy, taken turn about.

Starts one simulator and one Postgres, our proxy from this checkout (``this``) and from another
copy of the repository with a patch applied or not (``other``), then runs the same chats against
each in alternation, so both see the same machine: on a shared box a change is only believable
when measured this way. Prints, per concurrency, the medians over the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from bench.run import Bench, log
from bench.targets import ROOT, raise_fd_limit, start_postgres, start_proxy, start_simulator, stop_on_sigterm


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    p.add_argument("other", type=Path, help="another checkout of this repository")
    p.add_argument("--this", type=Path, default=ROOT, help="the checkout to compare it with (default: this one)")
    p.add_argument("--concurrency", default="1,50", help="comma-separated chat counts")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--ttft-ms", type=int, default=200)
    p.add_argument("--gap-ms", type=int, default=20)
    p.add_argument("--tokens", type=int, default=40)
    p.add_argument("--database-url", default=None)
    args = p.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]
    args.profile_at, args.out = None, Path(tempfile.gettempdir()) / "bench-ab" / "x.json"
    return args


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(runs: list[dict[str, Any]], label: str) -> dict[str, Any]:
    def pick(run: dict[str, Any], *path: str) -> float | None:
        value: Any = run
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    ok = [pick(r, "load", "ok") or 0 for r in runs]
    done = [pick(r, "load", "completed_chats") or 0 for r in runs]
    cpu = [pick(r, "usage", "cpu_s", "target") for r in runs]
    return {
        "label": label,
        "chats": sum(ok),
        "errors": sum(pick(r, "load", "errors") or 0 for r in runs),
        "ttft_p50": _median([pick(r, "load", "ttft_ms", "p50") for r in runs]),
        "ttft_p99": _median([pick(r, "load", "ttft_ms", "p99") for r in runs]),
        "thread_p50": _median([pick(r, "load", "setup_ms", "p50") for r in runs]),
        "done_p50": _median([pick(r, "load", "completion_ms", "p50") for r in runs]),
        "cpu_ms_per_chat": _median(
            [1000 * c / n if c is not None and n else None for c, n in zip(cpu, done, strict=True)]
        ),
        "others_cpu_s": _median([pick(r, "usage", "cpu_s", "others") for r in runs]),
    }


def table(rows: list[tuple[int, dict[str, Any]]]) -> str:
    def f(v: float | None, fmt: str = ".1f") -> str:
        return "–" if v is None else format(v, fmt)

    out = [
        "| chats | proxy | chats done | errors | TTFT p50 | TTFT p99 | thread p50 | done p50 | CPU ms/chat "
        "| others' CPU s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for concurrency, s in rows:
        out.append(
            f"| {concurrency} | {s['label']} | {s['chats']} | {s['errors']} | {f(s['ttft_p50'])} | {f(s['ttft_p99'])} "
            f"| {f(s['thread_p50'])} | {f(s['done_p50'])} | {f(s['cpu_ms_per_chat'], '.2f')} | {f(s['others_cpu_s'])} |"
        )
    return "\n".join(out)


def separate_database(url: str, name: str) -> str:
    """A database of its own on the same server: the two checkouts' schemas may differ."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return make_conninfo(url, dbname=name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    stop_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    bench = Bench(args, workdir)
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        bench.services["simulator"] = sim = start_simulator(workdir)
        url = args.database_url
        if url is None:
            bench.postgres = start_postgres(workdir)
            url, bench.pg_dir = bench.postgres.url, bench.postgres.data_dir
        bench.services["proxy"] = start_proxy(workdir, sim, url, name="this", checkout=args.this.resolve())
        other_url = separate_database(url, "bench_other")
        bench.services["proxy-other"] = start_proxy(
            workdir, sim, other_url, name="other", checkout=args.other.resolve()
        )
        names = {"proxy": "this", "proxy-other": "other"}
        for target in names:
            bench.run(target, 20, duration=1.0, record=False)
        for concurrency in args.concurrency:
            runs: dict[str, list[dict[str, Any]]] = {t: [] for t in names}
            for round_no in range(args.rounds):
                order = list(names) if round_no % 2 == 0 else list(reversed(names))
                for target in order:
                    runs[target].append(bench.run(target, concurrency, record=False))
                    last = summarize(runs[target][-1:], names[target])
                    log(f"{concurrency} chats, round {round_no + 1}: " + table([(concurrency, last)]).splitlines()[-1])
            rows += [(concurrency, summarize(runs[t], names[t])) for t in names]
            time.sleep(0.5)
    finally:
        bench.stop()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
