"""A retention purge of many old messages while a visitor chats: does the chat notice?

Starts the embedded Postgres, the simulator and ``python -m proxy serve`` (as ``python -m bench``
does), loads N old messages (default 100,000, 400 days old, in threads of 100) for the bench's
tenant, then runs chat turns one after another: first alone, then while the purge deletes the old
messages in batches (``proxy.store.retention``, as the service's scheduled purge does), and, for
comparison, while one single ``DELETE`` removes them all at once. It prints each phase's turn
times (p50, p95, max), how long the purge took and what it removed. Numbers, not a test.

    .venv/bin/python bench/purge_bench.py [--messages 100000] [--batch 500] [--pause 0.02] [--no-naive]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.targets import WORK, start_postgres, start_proxy, start_simulator
from proxy.store.db import Database
from proxy.store.retention import Policy, Purger, RetentionSettings

TENANT = "bench"  # the tenant bench/targets.py writes (origin bench.local)
PER_THREAD = 100
OLD = datetime.now(UTC) - timedelta(days=400)
NAIVE = """
delete from messages m using threads t
where m.thread_id = t.id and t.tenant = %(tenant)s and t.created_at < %(cutoff)s and m.created_at < %(cutoff)s
"""


async def load(db: Database, messages: int) -> None:
    threads = max(1, messages // PER_THREAD)
    await db.execute(
        "insert into threads (id, tenant, engine, created_at)"
        " select 'thr_purgebench_' || i, %(t)s, 'chat', %(old)s from generate_series(1, %(n)s) i",
        {"t": TENANT, "old": OLD, "n": threads},
    )
    await db.execute(
        "insert into messages (thread_id, role, content, created_at)"
        " select 'thr_purgebench_' || (i %% %(threads)s + 1), case when i %% 2 = 0 then 'user' else 'assistant' end,"
        " repeat('an old message of the bench ', 8), %(old)s from generate_series(1, %(n)s) i",
        {"threads": threads, "old": OLD, "n": messages},
    )
    await db.execute("analyze threads; analyze messages")


async def one_turn(http: httpx.AsyncClient, thread_id: str, n: int) -> float:
    started = time.perf_counter()
    async with http.stream("POST", f"/v1/threads/{thread_id}/messages", json={"content": f"question {n}"}) as res:
        res.raise_for_status()
        body = "".join([chunk async for chunk in res.aiter_text()])
    if "event: done" not in body or "event: error" in body:
        raise RuntimeError(f"the turn failed: {body[-300:]}")
    return (time.perf_counter() - started) * 1000


async def chat_while(http: httpx.AsyncClient, running: asyncio.Task[Any] | None, at_least: int) -> list[float]:
    """Turns one after another until ``running`` is done (and at least ``at_least`` of them)."""
    thread_id = (await http.post("/v1/threads")).json()["thread_id"]
    times: list[float] = []
    while len(times) < at_least or (running is not None and not running.done()):
        times.append(await one_turn(http, thread_id, len(times)))
    return times


def summary(name: str, times: list[float], purge_s: float | None = None, removed: str = "") -> dict[str, Any]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "phase": name,
        "turns": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ordered[-1], 1),
        "purge_s": None if purge_s is None else round(purge_s, 2),
        "removed": removed,
    }


async def main(args: argparse.Namespace) -> None:
    workdir = WORK / "purge"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    pg = start_postgres(workdir)
    sim = start_simulator(workdir)
    proxy = start_proxy(workdir, sim, pg.url)
    rows: list[dict[str, Any]] = []
    try:
        async with (
            Database.connect(pg.url, min_size=1, max_size=4) as db,
            httpx.AsyncClient(base_url=proxy.url, headers={"Origin": "https://bench.local"}, timeout=60) as http,
        ):
            await chat_while(http, None, 3)  # warm up
            rows.append(summary("chat alone", await chat_while(http, None, args.turns)))

            await load(db, args.messages)
            settings = RetentionSettings(_env_file=None, batch=args.batch, pause=args.pause)  # type: ignore[call-arg]
            started = time.perf_counter()
            purge = asyncio.ensure_future(Purger(db, settings).purge([Policy(TENANT, 30, 0, 0)]))
            times = await chat_while(http, purge, args.turns)
            done = await purge
            rows.append(
                summary(
                    f"batched purge ({args.batch}/statement)",
                    times,
                    time.perf_counter() - started,
                    f"{done.messages:,} messages, {done.threads:,} threads",
                )
            )

            if args.naive:
                await load(db, args.messages)
                cutoff = datetime.now(UTC) - timedelta(days=30)
                started = time.perf_counter()
                naive = asyncio.ensure_future(db.execute(NAIVE, {"tenant": TENANT, "cutoff": cutoff}))
                times = await chat_while(http, naive, args.turns)
                removed = await naive
                rows.append(summary("one DELETE", times, time.perf_counter() - started, f"{removed:,} messages"))
    finally:
        proxy.stop()
        sim.stop()
        pg.stop()

    print(f"\n{args.messages:,} old messages; chat turns against the simulator, one after another\n")
    print("| phase | turns | p50 ms | p95 ms | max ms | purge s | removed |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        cells = [r["phase"], r["turns"], r["p50_ms"], r["p95_ms"], r["max_ms"], r["purge_s"] or "", r["removed"]]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    if args.out:
        Path(args.out).write_text(json.dumps({"messages": args.messages, "phases": rows}, indent=2) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--turns", type=int, default=20, help="turns at least, per phase")
    p.add_argument("--batch", type=int, default=RetentionSettings.model_fields["batch"].default)
    p.add_argument("--pause", type=float, default=RetentionSettings.model_fields["pause"].default)
    p.add_argument("--no-naive", dest="naive", action="store_false", help="skip the one-DELETE comparison")
    p.add_argument("--out", default=None, help="also write the results as JSON")
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
