"""``python -m bench.stream_costs``: what one open stream costs our proxy, in memory and in CPU.

Two measurements the main bench does not separate:

* ``memory``: K idle streams (the reply stalls after three tokens) held by one worker. The worker's
  resident memory before and while holding them, and, with ``--trace``, where the Python heap's
  growth went (``tracemalloc``, grouped by file): the worker then runs with tracing on, which
  costs CPU and some memory of its own, so the RSS figure of a traced run is not the one to quote.
* ``tokens``: the same chats with two reply lengths at one concurrency; the difference in CPU per
  chat divided by the difference in tokens is the CPU per relayed token, and what is left at zero
  tokens is the fixed cost of a chat (thread, message, turn start and end). Pass ``--other`` to
  take every run turn about with another checkout's proxy, on the same simulator and Postgres.

Everything runs on this machine through the bench's own processes (:mod:`bench.targets`) and
load generator (:mod:`bench.load`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import select
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.ab import separate_database
from bench.run import Bench, log
from bench.targets import (
    PROVIDER_KEY,
    PROXY_SETTINGS,
    ROOT,
    Service,
    _base_env,
    _launch,
    _wait_ready,
    free_port,
    raise_fd_limit,
    start_postgres,
    start_simulator,
    stop_on_sigterm,
    tree_usage,
    write_tenants,
)

# the proxy, started like ``python -m proxy serve``, optionally tracing allocations; SIGUSR1 writes
# a tracemalloc snapshot to $BENCH_SNAPSHOT (a numbered file per signal)
_TRACED_SERVE = """
import gc, os, signal, sys, tracemalloc
frames = int(os.environ.get("BENCH_TRACE_FRAMES") or 0)
count = [0]
def dump(signum, frame):
    # the first signal starts tracing (tracing from start-up would slow the imports tenfold)
    gc.collect()
    count[0] += 1
    if not tracemalloc.is_tracing():
        tracemalloc.start(frames)
    tracemalloc.take_snapshot().dump(f"{os.environ['BENCH_SNAPSHOT']}.{count[0]}")
    open(f"{os.environ['BENCH_SNAPSHOT']}.{count[0]}.done", "w").close()
if frames:
    signal.signal(signal.SIGUSR1, dump)
from proxy.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


# The token costs are those of chats that run: a worker shedding load (a 503 when its loop lags)
# spends CPU on refusals that complete no chat, as many as the machine's other load makes, so the
# ``tokens`` mode turns the shedding off (its cost under overload is the main bench's matter).
NO_SHEDDING = {"PROXY_MAX_LOOP_LAG": "0"}


def start_proxy(
    workdir: Path,
    sim: Service,
    url: str,
    *,
    name: str,
    checkout: Path,
    trace_frames: int = 0,
    settings: dict[str, str] | None = None,
) -> Service:
    port = free_port()
    env = _base_env() | PROXY_SETTINGS | (settings or {})
    env |= {
        "PROXY_TENANTS_FILE": str(write_tenants(workdir, sim, with_responses=False)),
        "PROXY_DATA_DIR": str(workdir / f"{name}-data"),
        "DATABASE_URL": url,
        "BENCH_PROVIDER_KEY": PROVIDER_KEY,
        "BENCH_SNAPSHOT": str(workdir / f"{name}.snapshot"),
        "BENCH_TRACE_FRAMES": str(trace_frames),
    }
    argv = [sys.executable, "-c", _TRACED_SERVE, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    service = _launch(name, argv, env, workdir, port, cwd=checkout)
    _wait_ready(service, "/healthz", 90)
    return service


def snapshot(service: Service, workdir: Path, number: int) -> Any:
    import tracemalloc

    path = workdir / f"{service.name}.snapshot.{number}"
    os.kill(service.proc.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while not Path(f"{path}.done").exists():
        if time.monotonic() > deadline:
            raise RuntimeError("no snapshot from the proxy")
        time.sleep(0.2)
    return tracemalloc.Snapshot.load(str(path))


def _where(filename: str) -> str:
    for marker in ("site-packages/", f"{ROOT}/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename.rsplit("/lib/python3", 1)[-1]


def heap_growth(before: Any, after: Any, held: int, top: int) -> list[tuple[float, str]]:
    """Bytes per stream by the file that allocated them (the innermost frame)."""
    stats = after.compare_to(before, "filename")
    rows = [(s.size_diff / held, _where(s.traceback[0].filename)) for s in stats if s.size_diff > 0]
    rows.sort(reverse=True)
    return rows[:top]


def heap_by_our_line(before: Any, after: Any, held: int, top: int) -> list[tuple[float, str, str]]:
    """Bytes per stream by the innermost line of the proxy's own code that led to them, and where
    the allocation itself happened."""
    by: dict[tuple[str, str], float] = {}
    for stat in after.compare_to(before, "traceback"):
        if stat.size_diff <= 0:
            continue
        frames = list(reversed(stat.traceback))  # innermost first
        ours = next((f for f in frames if "/proxy/" in f.filename and "site-packages" not in f.filename), None)
        key = (
            f"{_where(ours.filename)}:{ours.lineno}" if ours else "-",
            f"{_where(frames[0].filename)}:{frames[0].lineno}",
        )
        by[key] = by.get(key, 0.0) + stat.size_diff / held
    rows = sorted(((v, *k) for k, v in by.items()), reverse=True)
    return rows[:top]


# Descriptors one process may hold: the hard limit, which only a process with CAP_SYS_RESOURCE may
# raise (the bench raises every soft limit to it). Each held stream costs the worker two (the
# client's connection and the provider request's), the load generator and the simulator one each.
FD_RESERVE = 200  # the worker's own: listening socket, Postgres pool, logs, imports, epoll


def fd_plan(asked: int) -> dict[str, Any]:
    """How many of ``asked`` streams one worker can hold under the descriptor limit, and how many
    load generator and simulator processes hold the other ends."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    fits = (hard - FD_RESERVE) // 2
    streams = min(asked, fits)
    per_process = hard - FD_RESERVE
    plan = {
        "fd_hard_limit": hard,
        "streams": streams,
        "loadgens": max(1, math.ceil(streams / per_process)),
        "simulator_workers": max(1, math.ceil(streams / per_process)),
    }
    if streams < asked:
        plan["capped"] = (
            f"{asked} streams need {2 * asked + FD_RESERVE} descriptors in the one worker (2 per stream: "
            f"the client's connection and the provider's), over the hard limit of {hard} per process "
            f"(raising it needs CAP_SYS_RESOURCE, which processes here lack): holding {streams}"
        )
    return plan


def _worker_fds(service: Service) -> int:
    return sum(p.num_fds() for p in service.processes())


def memory(args: argparse.Namespace, bench: Bench, workdir: Path, url: str) -> dict[str, Any]:
    sim = bench.services["simulator"]
    frames = args.trace
    plan = fd_plan(args.idle)
    if "capped" in plan:
        log(plan["capped"])
    bench.services["proxy"] = proxy = start_proxy(
        workdir, sim, url, name="proxy", checkout=args.this, trace_frames=frames
    )
    bench.run("proxy", 20, duration=1.0, record=False)  # warm-up: imports, pools, first connections
    before_snap = snapshot(proxy, workdir, 1) if args.trace else None
    rss_before = min(_rss(proxy) for _ in range(5))
    fds_before = _worker_fds(proxy)
    streams, loadgens = plan["streams"], []
    for n in range(plan["loadgens"]):  # each within its own descriptor limit
        share = streams // plan["loadgens"] + (1 if n < streams % plan["loadgens"] else 0)
        spec = bench.spec("proxy", 1, 0, stall=True) | {
            "mode": "idle",
            "start": args.new_chat,
            "count": share,
            "open_concurrency": max(1, args.open_concurrency // plan["loadgens"]),
            "open_limit": args.open_limit,
            "timeout": 120.0,
        }
        loadgens.append(bench._loadgen(spec))
    opened: list[dict[str, Any]] = []
    for loadgen in loadgens:
        assert loadgen.stdout is not None
        ready, _, _ = select.select([loadgen.stdout], [], [], args.open_limit + 60)
        if not ready:
            for each in loadgens:
                each.kill()
            raise RuntimeError("idle streams did not open in time")
        opened.append(json.loads(loadgen.stdout.readline()))
    log(f"holding {sum(o['opened'] for o in opened)} streams")
    time.sleep(1.0)
    rss_held = max(_rss(proxy) for _ in range(5))
    fds_held = _worker_fds(proxy)
    after_snap = snapshot(proxy, workdir, 2) if args.trace else None
    closed: list[dict[str, Any]] = []
    for loadgen in loadgens:
        assert loadgen.stdin is not None
        loadgen.stdin.write("\n")
        loadgen.stdin.flush()
    for loadgen in loadgens:
        out, _ = loadgen.communicate(timeout=300)
        closed.append(json.loads(out.strip().splitlines()[-1]))
    held = sum(c["still_open"] for c in closed)
    kinds: dict[str, int] = {}
    for c in closed:
        for kind, n in c["error_kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + n
    result: dict[str, Any] = {
        "asked": args.idle,
        "held": held,
        "open_seconds": max(o["open_seconds"] for o in opened),
        "errors": sum(c["errors"] for c in closed),
        "error_kinds": kinds,
        "rss_before_mb": rss_before / 2**20,
        "rss_held_mb": rss_held / 2**20,
        "kb_per_stream": (rss_held - rss_before) / 1024 / held if held else None,
        "worker_fds": [fds_before, fds_held],
        "plan": plan,
    }
    if before_snap is not None and held:
        growth = heap_growth(before_snap, after_snap, held, args.top)
        result["heap_bytes_per_stream"] = (
            sum(s.size_diff for s in after_snap.compare_to(before_snap, "filename")) / held
        )
        result["heap_by_file"] = growth
        if args.trace > 1:
            result["heap_by_our_line"] = heap_by_our_line(before_snap, after_snap, held, args.top)
    return result


def _rss(service: Service) -> int:
    time.sleep(0.2)
    return tree_usage(service.processes())[1]


def tokens(args: argparse.Namespace, bench: Bench, workdir: Path, url: str) -> dict[str, Any]:
    sim = bench.services["simulator"]
    names = {"proxy": "this"}
    bench.services["proxy"] = start_proxy(workdir, sim, url, name="this", checkout=args.this, settings=NO_SHEDDING)
    if args.other is not None:
        other_url = separate_database(url, "bench_other")
        bench.services["proxy-other"] = start_proxy(
            workdir, sim, other_url, name="other", checkout=args.other, settings=NO_SHEDDING
        )
        names["proxy-other"] = "other"
    for target in names:
        bench.run(target, 20, duration=1.0, record=False)
    per: dict[str, dict[int, list[float]]] = {t: {n: [] for n in args.lengths} for t in names}
    for round_no in range(args.rounds):
        for length in args.lengths:
            bench.args.tokens = length
            order = list(names) if round_no % 2 == 0 else list(reversed(names))
            for target in order:
                run = bench.run(target, args.concurrency, record=False)
                done = run["load"]["completed_chats"]
                cpu = run["usage"]["cpu_s"]["target"]
                ms = 1000 * cpu / done if done else float("nan")
                per[target][length].append(ms)
                log(
                    f"{names[target]} {length} tokens x {args.concurrency} chats, round {round_no + 1}: "
                    f"{done} chats, {ms:.2f} ms CPU/chat, errors {run['load']['errors']}, "
                    f"refusals {run['load'].get('refusals', 0)}, "
                    f"others' CPU {run['usage']['cpu_s']['others']:.1f} s"
                )
    short, long = min(args.lengths), max(args.lengths)
    result: dict[str, Any] = {}
    for target, label in names.items():
        med = {n: statistics.median(v) for n, v in per[target].items()}
        per_token_us = 1000 * (med[long] - med[short]) / (long - short)
        fixed_ms = med[short] - short * per_token_us / 1000
        result[label] = {
            "cpu_ms_per_chat": med,
            "per_token_us": per_token_us,
            "fixed_ms": fixed_ms,
            "runs": per[target],
        }
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stream_costs", description=__doc__)
    p.add_argument("mode", choices=["memory", "tokens"])
    p.add_argument("--this", type=Path, default=ROOT)
    p.add_argument("--other", type=Path, default=None, help="tokens: another checkout, measured turn about")
    p.add_argument("--idle", type=int, default=2000, help="memory: streams to hold")
    p.add_argument("--trace", type=int, default=0, metavar="FRAMES",
                   help="memory: where the heap grew (tracemalloc, FRAMES deep)")  # fmt: skip
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--open-concurrency", type=int, default=50, help="memory: streams being opened at once")
    p.add_argument("--new-chat", choices=["one-request", "two-step"], default="one-request",
                   help="how a chat begins (two-step: checkouts before the one-request start)")  # fmt: skip
    p.add_argument("--other-new-chat", choices=["one-request", "two-step"], default="two-step",
                   help="tokens: how a chat begins for --other (one-request: main from 2026-12-01 on)")  # fmt: skip
    p.add_argument("--open-limit", type=float, default=900.0, help="memory: seconds allowed for opening them")
    p.add_argument("--concurrency", type=int, default=200, help="tokens: concurrent chats")
    p.add_argument("--lengths", default="10,80", help="tokens: two reply lengths")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--ttft-ms", type=int, default=200)
    p.add_argument("--gap-ms", type=int, default=20)
    args = p.parse_args(argv)
    args.lengths = [int(n) for n in args.lengths.split(",")]
    args.tokens = args.lengths[0]
    args.profile_at, args.out = None, Path(tempfile.gettempdir()) / "bench-stream-costs" / "x.json"
    args.this = args.this.resolve()
    args.other = args.other.resolve() if args.other else None
    raise_fd_limit()
    stop_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    bench = Bench(args, workdir)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = os.getloadavg()
    try:
        sim_workers = fd_plan(args.idle)["simulator_workers"] if args.mode == "memory" else 1
        bench.services["simulator"] = start_simulator(workdir, workers=sim_workers)
        bench.postgres = start_postgres(workdir)
        url, bench.pg_dir = bench.postgres.url, bench.postgres.data_dir
        result = memory(args, bench, workdir, url) if args.mode == "memory" else tokens(args, bench, workdir, url)
    finally:
        bench.stop()
    result |= {
        "date": started,
        "load_average": [load, os.getloadavg()],
        "command": " ".join(sys.argv),
        "workdir": str(workdir),  # logs, and the heap snapshots of a traced run
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
