"""``python -m bench``: the same chats against the simulator (the floor), our proxy and LiteLLM's proxy.

Every target runs as its own process (one worker unless a capacity search asks for more), the load
generator as another (:mod:`bench.load`); this process starts them, samples their CPU and memory
(:mod:`bench.monitor`) and prints the tables (:mod:`bench.report`). Three kinds of load: steady
chats (closed loop), bursts (N chats released at one instant) and a capacity search (the highest
rate of Poisson arrivals of new chats a target takes with added TTFT p99 within a bound, at 1, 2, ...
workers). See bench/README.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as bench/run.py: import from the repository, not from bench/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import psutil

from bench import pyspy, report
from bench.capacity import search
from bench.cpu_budget import BudgetUnavailable, CpuBudget, find_controller
from bench.monitor import Monitor
from bench.targets import (
    MODEL,
    ORIGIN,
    PROVIDER_KEY,
    PROXY_SETTINGS,
    ROOT,
    Postgres,
    Service,
    StartError,
    granian_available,
    litellm_version,
    postgres_processes,
    raise_fd_limit,
    start_litellm,
    start_postgres,
    start_proxy,
    start_simulator,
    stop_on_sigterm,
    tree_usage,
)

ALL_TARGETS = ("simulator", "proxy", "litellm")
CAPACITY_BOUND_MS = 50.0  # the added TTFT p99 a target may show at its capacity (--capacity-bound)
FLOOR_TRIES = 3  # measurements of the floor at one rate when it comes out slow


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--concurrency", default="1,50,200,500,1000", help="comma-separated chat counts")
    p.add_argument("--duration", type=float, default=6.0, help="measured seconds per run")
    p.add_argument("--targets", default=",".join(ALL_TARGETS), help="any of simulator,proxy,litellm")
    p.add_argument("--with-responses", action="store_true", help="also our proxy's responses engine")
    p.add_argument("--ttft-ms", type=int, default=200)
    p.add_argument("--gap-ms", type=int, default=20)
    p.add_argument("--tokens", type=int, default=40)
    p.add_argument("--sim-workers", type=int, default=1, help="uvicorn workers of the simulator")
    p.add_argument("--idle", type=int, default=5000, help="idle streams to hold (0: skip)")
    p.add_argument("--idle-hold", type=float, default=16.0, help="seconds to hold them (> one heartbeat, 15 s)")
    p.add_argument("--idle-peers", action="store_true", help="also hold idle streams through LiteLLM")
    p.add_argument("--database-url", default=None, help="Postgres for our proxy (default: embedded)")
    p.add_argument("--profile-at", type=int, default=None, help="py-spy our proxy at this concurrency")
    p.add_argument("--no-install", action="store_true", help="do not install LiteLLM if missing")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                   help="first wait up to S seconds for other work on the machine to calm down")  # fmt: skip
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    p.add_argument("--burst", default="", help="comma-separated sizes of bursts: N chats released at one instant")
    p.add_argument("--burst-rounds", type=int, default=3, help="bursts of each size (each after the last ended)")
    p.add_argument("--capacity", action="store_true", help="search each target's capacity for new chats")
    p.add_argument("--capacity-workers", default="1,2", help="worker counts to search the capacity at")
    p.add_argument("--capacity-duration", type=float, default=5.0, help="seconds of arrivals per step")
    p.add_argument("--capacity-start", type=float, default=4.0, help="first rate tried (new chats a second)")
    p.add_argument("--capacity-limit", type=float, default=512.0, help="highest rate tried")
    p.add_argument("--capacity-steps", type=int, default=3, help="halvings of the interval after the doubling")
    p.add_argument("--capacity-bound", type=float, default=CAPACITY_BOUND_MS, metavar="MS",
                   help="the added TTFT p99 a target may show at its capacity")  # fmt: skip
    p.add_argument("--cpu-per-worker", type=float, default=None, metavar="CORES",
                   help="cap each worker of ours and LiteLLM at CORES of CPU time (cgroups; needs root)")  # fmt: skip
    p.add_argument("--proxy-env", action="append", default=[], metavar="NAME=VALUE",
                   help="a setting for our proxy over the product's defaults (repeatable)")  # fmt: skip
    p.add_argument("--new-chat", choices=["one-request", "two-step"], default="one-request",
                   help="ours: a new chat as one request (the first message creates its thread) or two")  # fmt: skip
    p.add_argument("--with-granian", action="store_true", help="also ours under Granian (pip install -e '.[bench]')")
    p.add_argument("--quick", action="store_true", help="1,50,200 chats, 3 s each, 1,000 idle streams")
    p.add_argument("--smoke", action="store_true", help="a few seconds, tiny load, no LiteLLM (for CI)")
    args = p.parse_args(argv)
    given = set(argv if argv is not None else sys.argv[1:])
    if args.smoke:
        args.concurrency, args.duration, args.idle, args.idle_hold = "2", 1.0, 20, 0.5
        args.ttft_ms, args.gap_ms, args.tokens = 50, 5, 10
        if "--targets" not in given:
            args.targets = "simulator,proxy"
        if "--burst" not in given:
            args.burst, args.burst_rounds = "3", 1
        args.capacity = True
        args.capacity_workers, args.capacity_duration = "1", 1.0
        args.capacity_start, args.capacity_limit, args.capacity_steps = 2.0, 4.0, 0
    elif args.quick:
        args.concurrency, args.duration, args.idle = "1,50,200", 3.0, 1000
    args.concurrency = [int(c) for c in str(args.concurrency).split(",") if c]
    args.burst = [int(c) for c in str(args.burst).split(",") if c]
    args.capacity_workers = [int(c) for c in str(args.capacity_workers).split(",") if c]
    for pair in args.proxy_env:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            p.error(f"--proxy-env takes NAME=VALUE, not {pair!r}")
        PROXY_SETTINGS[name] = value
    if args.with_granian and not granian_available():
        p.error("--with-granian needs Granian in this environment: pip install -e '.[bench]'")
    args.cpu_controller = None
    if args.cpu_per_worker is not None:
        if args.cpu_per_worker <= 0:
            p.error(f"--cpu-per-worker takes a positive share of a core, not {args.cpu_per_worker:g}")
        try:
            args.cpu_controller = find_controller()
        except BudgetUnavailable as exc:
            p.error(f"--cpu-per-worker needs a cgroup CPU controller this process may write; {exc}")
    args.targets = [t for t in str(args.targets).split(",") if t]
    unknown = set(args.targets) - set(ALL_TARGETS)
    if unknown:
        p.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if "simulator" not in args.targets:
        args.targets.insert(0, "simulator")  # the floor is what the others are measured against
    return args


def busy_cores(seconds: float = 2.0) -> float:
    """How many cores the whole machine kept busy over the next ``seconds``."""
    return psutil.cpu_percent(interval=seconds) / 100 * (psutil.cpu_count() or 1)


def wait_quiet(limit: float, threshold: float = 0.3) -> float:
    """Wait (up to ``limit`` seconds) until other work uses less than ``threshold`` cores; the last reading."""
    deadline = time.monotonic() + limit
    busy = busy_cores()
    while busy > threshold and time.monotonic() < deadline:
        log(f"the machine keeps {busy:.1f} cores busy; waiting for it to calm down")
        time.sleep(10)
        busy = busy_cores()
    return busy


def machine() -> dict[str, Any]:
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    return {
        "cpus": psutil.cpu_count(),
        "memory_gb": psutil.virtual_memory().total / 2**30,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "event_loop": loop,
        "load_average_at_start": os.getloadavg(),
    }


# -- one load run --------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.services: dict[str, Service] = {}
        self.keys: dict[str, str] = {"simulator": PROVIDER_KEY}
        self.pg_dir: Path | None = None
        self.postgres: Postgres | None = None
        self.loadgen: subprocess.Popen[str] | None = None
        self.floors: dict[float, dict[str, Any]] = {}
        controller = getattr(args, "cpu_controller", None)  # bench.ab and bench.stream_costs have none
        self.budget = CpuBudget(args.cpu_per_worker, controller) if controller is not None else None

    def add(self, name: str, service: Service, workers: int = 1) -> None:
        """A started target; with ``--cpu-per-worker`` its workers are capped from here on."""
        self.services[name] = service
        if self.budget is not None:
            found = self.budget.apply(name, service.proc.pid, workers)
            log(f"{name}: {found} worker process(es) capped at {self.budget.cores:g} core each")
            if found != workers:
                log(f"{name}: {workers} workers asked for, {found} found; the cap on all is {workers} shares")

    def favour(self, pids: list[int]) -> None:
        """With ``--cpu-per-worker``: the simulator, load generator, Postgres get the bench's priority."""
        if self.budget is not None:
            self.budget.favour(pids)

    def remove(self, name: str) -> None:
        """Stop a target started for one search, and remove its cgroups."""
        self.services.pop(name).stop()
        if self.budget is not None:
            self.budget.release(name)

    def stop(self) -> None:
        """Stop the load generator, the targets and Postgres, whatever state they are in."""
        stopping = time.monotonic()
        if self.loadgen is not None and self.loadgen.poll() is None:
            self.loadgen.kill()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(Service.stop, {id(s): s for s in self.services.values()}.values()))
        if self.postgres is not None:
            self.postgres.stop()
        if self.budget is not None:
            self.budget.close()
        log(f"targets stopped in {time.monotonic() - stopping:.1f} s")

    def message(self, *, stall: bool = False) -> str:
        a = self.args
        if stall:
            return "[[pace:ttft=0,gap=0]] [[fault:stall]] Hello, anyone there?"
        return f"[[pace:ttft={a.ttft_ms},gap={a.gap_ms},tokens={a.tokens}]] Hello! What do you sell?"

    def spec(self, target: str, concurrency: int, duration: float, *, stall: bool = False) -> dict[str, Any]:
        a = self.args
        reply_s = (a.ttft_ms + a.gap_ms * max(0, a.tokens - 1)) / 1000
        service = self.services[target]
        spec: dict[str, Any] = {
            "mode": "chats",
            "host": "127.0.0.1",
            "port": service.port,
            "message": self.message(stall=stall),
            "concurrency": concurrency,
            "duration": duration,
            "stagger": min(2.0, max(0.1, reply_s)) if concurrency > 1 else 0.0,
            "min_deltas": 1 if stall else a.tokens,
            "timeout": 30.0,
            "grace": 10.0,
        }
        if target.startswith("proxy"):
            origin = "http://responses.bench.local" if target == "proxy-responses" else ORIGIN
            # another checkout (bench.ab, bench.stream_costs) may predate the one-request start
            if target == "proxy-other":
                start = getattr(a, "other_new_chat", "two-step")
            else:
                start = getattr(a, "new_chat", "one-request")
            spec |= {"kind": "proxy", "origin": origin, "start": start}
        else:
            spec |= {"kind": "openai", "model": MODEL, "api_key": self.keys[target]}
        return spec

    def groups(self, target: str, loadgen: subprocess.Popen[str]) -> dict[str, Any]:
        loadgen_proc = psutil.Process(loadgen.pid)
        groups: dict[str, Any] = {"target": self.services[target].processes, "loadgen": lambda: [loadgen_proc]}
        if target != "simulator":
            groups["simulator"] = self.services["simulator"].processes
        if self.pg_dir is not None:
            groups["postgres"] = lambda: postgres_processes(self.pg_dir)
        for name, service in self.services.items():  # leftovers of earlier runs are ours, not "others"
            if service is not self.services[target] and name != "simulator" and name not in groups:
                groups[f"{name} (not under test)"] = service.processes
        return groups

    def _loadgen(self, spec: dict[str, Any]) -> subprocess.Popen[str]:
        stderr = (self.workdir / "loadgen.err").open("a")
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.load"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            preexec_fn=raise_fd_limit,
        )
        stderr.close()
        self.loadgen = proc
        self.favour([proc.pid])
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(spec) + "\n")
        proc.stdin.flush()
        return proc

    def run(
        self, target: str, concurrency: int, *, duration: float | None = None, record: bool = True
    ) -> dict[str, Any]:
        spec = self.spec(target, concurrency, self.args.duration if duration is None else duration)
        loadgen = self._loadgen(spec)
        monitor = Monitor(self.groups(target, loadgen)).start()
        spy = None
        profiling = record and target == "proxy" and concurrency == self.args.profile_at
        raw = self.args.out.parent / f"profile-proxy-{concurrency}.txt"
        if profiling:
            time.sleep(spec["stagger"])  # the steady part only
            spy = pyspy.start(self.services[target].proc.pid, spec["duration"], raw)
        out, _ = loadgen.communicate(timeout=spec["stagger"] + spec["duration"] + 180)
        usage = monitor.stop()
        if loadgen.returncode != 0 or not out.strip():
            err = (self.workdir / "loadgen.err").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"load generator failed against {target}:\n{err}")
        result: dict[str, Any] = {"target": target, "concurrency": concurrency, "load": json.loads(out), "usage": usage}
        if spy is not None:
            spy.wait(30)
            if raw.exists():
                shown = raw.relative_to(ROOT) if raw.is_relative_to(ROOT) else raw
                result["profile"] = {"raw": str(shown), **pyspy.summarize(raw)}
        if record:
            load = result["load"]
            log(
                f"{target:>15} @ {concurrency:>4}: {load['ok']} chats, {load['errors']} errors, "
                f"TTFT p50 {load['ttft_ms']['p50'] or 0:.1f} p99 {load['ttft_ms']['p99'] or 0:.1f} ms, "
                f"CPU {usage['cpu_s']['target']:.1f} s, others {usage['cpu_s']['others']:.1f} s"
            )
        self.settle(target)
        return result

    def settle(self, target: str, limit: float = 10.0) -> None:
        """Wait (up to ``limit`` s) until the target has finished work left over from the last run."""
        deadline = time.monotonic() + limit
        processes = self.services[target].processes()
        before = tree_usage(processes)[0]
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = tree_usage(processes)[0]
            if now - before < 0.05:  # under a tenth of a core
                return
            before = now

    # -- bursts and arrivals of new chats -----------------------------------------------------------

    def measure(self, target: str, load: dict[str, Any]) -> dict[str, Any]:
        """One burst or arrivals run against ``target`` (``load``: the mode and its numbers)."""
        spec = self.spec(target, 1, 0) | load
        loadgen = self._loadgen(spec)
        monitor = Monitor(self.groups(target, loadgen)).start()
        out, _ = loadgen.communicate(timeout=spec.get("duration", 0) + 300)
        usage = monitor.stop()
        if loadgen.returncode != 0 or not out.strip():
            err = (self.workdir / "loadgen.err").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"load generator failed against {target}:\n{err}")
        result = {"target": target, "load": json.loads(out), "usage": usage}
        self.settle(target)
        return result

    def burst(self, target: str, count: int) -> dict[str, Any]:
        result = self.measure(target, {"mode": "burst", "count": count, "rounds": self.args.burst_rounds})
        load = result["load"]
        log(
            f"{target:>15} burst of {count}: {load['ok']} chats, {load['errors']} errors, "
            f"TTFT p50 {load['start_to_first_ms']['p50'] or 0:.1f} p99 {load['start_to_first_ms']['p99'] or 0:.1f} ms"
        )
        return {"count": count} | result

    def arrivals(self, target: str, rate: float) -> dict[str, Any]:
        duration = self.args.capacity_duration
        result = self.measure(target, {"mode": "arrivals", "rate": rate, "duration": duration, "grace": 10.0})
        return {"rate": rate} | result

    def floor_at(self, rate: float) -> dict[str, Any]:
        """The simulator's own TTFT at ``rate`` arrivals a second (measured once per rate).

        The simulator answers ``--ttft-ms`` after a request by construction, so a p99 far above
        that is the machine's noise; subtracted, it would let a slow target pass. Such a floor is
        measured again (up to :data:`FLOOR_TRIES` times) and the lowest p99 kept.
        """
        if rate not in self.floors:
            runs = [self.arrivals("simulator", rate)]
            while len(runs) < FLOOR_TRIES and self._noisy_floor(runs[-1]):
                log(f"the floor at {rate:g} new chats/s was slow: measured again")
                runs.append(self.arrivals("simulator", rate))
            self.floors[rate] = min(runs, key=lambda r: r["load"]["start_to_first_ms"]["p99"] or float("inf"))
        return self.floors[rate]

    def _noisy_floor(self, run: dict[str, Any]) -> bool:
        p99 = run["load"]["start_to_first_ms"]["p99"]
        return p99 is None or p99 - self.args.ttft_ms > self.args.capacity_bound / 2

    def capacity(self, target: str, workers: int) -> dict[str, Any]:
        """The highest rate of new chats ``target`` takes with added TTFT p99 <= the bound, no errors.

        :func:`bench.capacity.search` picks the rates (doubling from ``--capacity-start``, then
        halving the interval ``--capacity-steps`` times; a failing rate and the rate found are each
        tried again). Each trial is ``--capacity-duration`` seconds of Poisson arrivals; the floor is
        the simulator's TTFT p99 at the same rate.
        """
        a = self.args
        steps: list[dict[str, Any]] = []

        def holds(rate: float) -> bool:
            floor = self.floor_at(rate)
            throttled = self.budget.throttled_s(target) if self.budget is not None else None
            run = self.arrivals(target, rate)
            load = run["load"]
            mine, base = load["start_to_first_ms"]["p99"], floor["load"]["start_to_first_ms"]["p99"]
            added = mine - base if mine is not None and base is not None else None
            ok = load["errors"] == 0 and added is not None and added <= a.capacity_bound
            cpu = run["usage"]["cpu_s"]
            throttled_after = self.budget.throttled_s(target) if self.budget is not None else None
            steps.append(
                {
                    "rate": rate,
                    "ok": ok,
                    "added_p99_ms": added,
                    "ttft_p99_ms": mine,
                    "floor_p99_ms": base,
                    "chats": load["ok"],
                    "errors": load["errors"],
                    "error_kinds": load["error_kinds"],
                    "refused_chats": load["refused_chats"],
                    "late_p99_ms": load["late_ms"]["p99"],
                    "cpu_s": cpu["target"],
                    "postgres_cpu_s": cpu.get("postgres"),
                    "others_cpu_s": cpu["others"],
                    "throttled_s": throttled_after - throttled
                    if throttled is not None and throttled_after is not None
                    else None,
                }
            )
            log(
                f"{target:>15} at {rate:6.1f} new chats/s: {load['ok']} chats, {load['errors']} errors, "
                f"added TTFT p99 {'–' if added is None else f'{added:.1f}'} ms -> {'holds' if ok else 'too much'}"
            )
            return ok

        found = search(holds, start=a.capacity_start, limit=a.capacity_limit, halvings=a.capacity_steps)
        cores = workers * a.cpu_per_worker if a.cpu_per_worker else None
        return {
            "target": target,
            "workers": workers,
            "max_rate": found.max_rate,
            "first_failing_rate": found.first_failing_rate,
            "per_worker": found.max_rate / workers,
            "cpu_per_worker": a.cpu_per_worker,
            "per_core": found.max_rate / cores if cores else None,
            "capped": found.capped,  # the limit held: the capacity is at least max_rate
            "confirmed": found.confirmed,  # the rate found held twice
            "steps": steps,
        }

    # -- idle streams ----------------------------------------------------------------------------

    def idle(self, target: str, count: int, hold: float) -> dict[str, Any]:
        """Open ``count`` stalled streams through ``target``; its memory before and while holding them."""
        service = self.services[target]
        before_samples = []
        for _ in range(5):
            time.sleep(0.2)
            before_samples.append(tree_usage(service.processes())[1])
        before = min(before_samples)
        spec = self.spec(target, 1, 0, stall=True) | {"mode": "idle", "count": count, "open_concurrency": 100}
        loadgen = self._loadgen(spec)
        assert loadgen.stdout is not None and loadgen.stdin is not None
        ready, _, _ = select.select([loadgen.stdout], [], [], 300)
        if not ready:
            loadgen.kill()
            raise RuntimeError(f"idle streams through {target} did not open within 300 s")
        held_line = json.loads(loadgen.stdout.readline())
        samples = []
        deadline = time.monotonic() + hold
        while time.monotonic() < deadline:
            samples.append(tree_usage(service.processes())[1])
            time.sleep(0.1)
        samples.append(tree_usage(service.processes())[1])
        loadgen.stdin.write("\n")
        loadgen.stdin.flush()
        out, _ = loadgen.communicate(timeout=120)
        closed = json.loads(out.strip().splitlines()[-1])
        held = closed["still_open"]
        rss_held = max(samples)
        result = {
            "count": count,
            "held": held,
            "open_seconds": held_line["open_seconds"],
            "with_ping": closed["with_ping"],
            "errors": closed["errors"],
            "error_kinds": closed["error_kinds"],
            "rss_before_mb": before / 2**20,
            "rss_held_mb": rss_held / 2**20,
            "kb_per_stream": (rss_held - before) / 1024 / held if held else None,
            "hold_s": hold,
        }
        log(
            f"idle {target}: {held}/{count} streams held, {result['with_ping']} saw a heartbeat, "
            f"{result['kb_per_stream'] or 0:.1f} KB each"
        )
        return result


def start_targets(bench: Bench, args: argparse.Namespace, skipped: dict[str, str]) -> str | None:
    """Start what was asked for; LiteLLM starts (and installs, the first time) beside the others."""
    workdir = bench.workdir
    bench.services["simulator"] = start_simulator(workdir, workers=args.sim_workers)
    bench.favour([p.pid for p in bench.services["simulator"].processes()])
    log(f"simulator on {bench.services['simulator'].url}")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        peer = None
        if "litellm" in args.targets:
            peer = pool.submit(start_litellm, workdir, bench.services["simulator"], install=not args.no_install)
        database_url = args.database_url
        if "proxy" in args.targets:
            if database_url is None:
                bench.postgres = start_postgres(workdir)
                database_url, bench.pg_dir = bench.postgres.url, bench.postgres.data_dir
                bench.favour([p.pid for p in postgres_processes(bench.pg_dir)])
            bench.add(
                "proxy",
                start_proxy(workdir, bench.services["simulator"], database_url, with_responses=args.with_responses),
            )
            log(f"our proxy on {bench.services['proxy'].url}")
            if args.with_granian:
                bench.add(
                    "proxy-granian",
                    start_proxy(
                        workdir, bench.services["simulator"], database_url, name="proxy-granian", server="granian"
                    ),
                )
                log(f"our proxy under Granian on {bench.services['proxy-granian'].url}")
            if args.with_responses:
                bench.services["proxy-responses"] = bench.services["proxy"]
        if peer is not None:
            try:
                service, key = peer.result()
                bench.add("litellm", service)
                bench.keys["litellm"] = key
                log(f"LiteLLM {litellm_version()} on {service.url}")
            except StartError as exc:
                skipped["litellm"] = str(exc).splitlines()[0]
                log(f"LiteLLM not run: {exc}")
    return database_url


def start_more_workers(bench: Bench, kind: str, name: str, workers: int, database_url: str | None) -> None:
    sim = bench.services["simulator"]
    if kind == "litellm":
        service, key = start_litellm(bench.workdir, sim, install=False, workers=workers, name=name)
        bench.add(name, service, workers)
        bench.keys[name] = key
    else:
        assert database_url is not None
        server = "granian" if kind == "proxy-granian" else "uvicorn"
        bench.add(
            name, start_proxy(bench.workdir, sim, database_url, name=name, workers=workers, server=server), workers
        )


def search_capacity(
    bench: Bench, args: argparse.Namespace, database_url: str | None, skipped: dict[str, str]
) -> list[dict[str, Any]]:
    """Every target's capacity at every worker count; targets with more workers are started here."""
    found = []
    kinds = [t for t in ("proxy", "proxy-granian", "litellm") if t in bench.services]
    for workers in args.capacity_workers:
        for kind in kinds:
            name, started = kind, False
            if workers != 1:
                name, started = f"{kind}-{workers}w", True
                try:
                    start_more_workers(bench, kind, name, workers, database_url)
                except StartError as exc:  # the other searches still count
                    skipped[name] = str(exc).splitlines()[0]
                    log(f"{name} not run: {exc}")
                    continue
                log(f"{name} on {bench.services[name].url}")
                bench.measure(name, {"mode": "arrivals", "rate": 10.0, "duration": 1.0})  # warm-up
            try:
                found.append(bench.capacity(name, workers) | {"kind": kind})
            finally:
                if started:
                    bench.remove(name)
            log(f"{name}: capacity {found[-1]['max_rate']:.1f} new chats/s")
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    stop_on_sigterm()
    started = time.monotonic()
    command = " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])])
    busy = wait_quiet(args.wait_quiet) if args.wait_quiet else busy_cores(1.0)
    if busy > 0.3:
        log(f"other work keeps {busy:.1f} cores busy: expect noisy numbers (see the others' CPU column)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    bench = Bench(args, workdir)
    skipped: dict[str, str] = {}
    results: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "command": command,
        "machine": machine() | {"busy_cores_at_start": busy},
        "settings": {
            "concurrency": args.concurrency,
            "duration": args.duration,
            "ttft_ms": args.ttft_ms,
            "gap_ms": args.gap_ms,
            "tokens": args.tokens,
            "sim_workers": args.sim_workers,
            "cpu_per_worker": args.cpu_per_worker,
            "targets": args.targets,
            "burst": args.burst,
            "proxy_env": args.proxy_env,
            "burst_rounds": args.burst_rounds,
            "capacity": {
                "workers": args.capacity_workers,
                "bound_added_p99_ms": args.capacity_bound,
                "duration": args.capacity_duration,
                "start": args.capacity_start,
                "limit": args.capacity_limit,
                "steps": args.capacity_steps,
            }
            if args.capacity
            else None,
        },
        "runs": [],
        "bursts": [],
        "capacity": [],
        "skipped": skipped,
    }
    ok = False
    try:
        database_url = start_targets(bench, args, skipped)
        order = [
            t for t in ("simulator", "proxy", "proxy-granian", "proxy-responses", "litellm") if t in bench.services
        ]
        for target in order if not args.smoke else ():  # warm-up: imports, pools, first connections
            bench.run(target, min(20, max(args.concurrency or [20])), duration=1.0, record=False)
        for concurrency in args.concurrency:
            for target in order:
                results["runs"].append(bench.run(target, concurrency))
        for count in args.burst:
            for target in order:
                if target != "proxy-responses":
                    results["bursts"].append(bench.burst(target, count))
        if args.capacity:
            results["capacity"] = search_capacity(bench, args, database_url, skipped)
        if args.idle and "proxy" in bench.services:
            if not args.smoke:  # a fresh process, so the sweep's leftovers do not hide the streams' memory
                bench.remove("proxy")
                assert database_url is not None
                sim = bench.services["simulator"]
                bench.add("proxy", start_proxy(workdir, sim, database_url, name="proxy-idle"))
                bench.run("proxy", 20, duration=1.0, record=False)
            results["idle"] = bench.idle("proxy", args.idle, args.idle_hold)
        if args.idle and args.idle_peers and "litellm" in bench.services:
            results["idle_litellm"] = bench.idle("litellm", args.idle, args.idle_hold)
        ok = True
    finally:
        bench.stop()
        if not ok:
            keep = args.out.parent / "logs"
            keep.mkdir(parents=True, exist_ok=True)
            for path in workdir.glob("*.log"):
                shutil.copy(path, keep / path.name)
            log(f"failed; the targets' logs are in {keep}")
        shutil.rmtree(workdir, ignore_errors=True)
    results["litellm_version"] = litellm_version() if "litellm" in bench.services else None
    results["elapsed_s"] = time.monotonic() - started
    results["machine"]["load_average_at_end"] = os.getloadavg()
    report.derive(results)
    report.write(results, args.out)
    print(report.render(results))
    log(f"done in {results['elapsed_s']:.0f} s; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
