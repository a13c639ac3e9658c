"""Derived numbers (added time to first token, ratios, targets), the Markdown tables and the JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FLOOR, OURS, PEER = "simulator", "proxy", "litellm"
TARGET_CONCURRENCY = 500
TARGETS = {"added_p50_ms": 3.0, "added_p99_ms": 15.0, "idle_streams": 5000, "idle_kb_per_stream": 30.0}


def _get(run: dict[str, Any], *path: str) -> Any:
    value: Any = run
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def derive(results: dict[str, Any]) -> None:
    """Add, in place, each run's time to first token over the floor's and its CPU per chat."""
    floors = {r["concurrency"]: r for r in results["runs"] if r["target"] == FLOOR}
    for run in results["runs"]:
        done = _get(run, "load", "completed_chats") or 0  # the CPU window covers the unmeasured ones too
        cpu = _get(run, "usage", "cpu_s", "target")
        # chats cut off at the deadline used CPU too: per finished chat would mean nothing then
        cut_off = (_get(run, "load", "error_kinds") or {}).get("unfinished_at_deadline", 0)
        run["cpu_ms_per_chat"] = 1000 * cpu / done if done and cpu is not None and not cut_off else None
        floor = floors.get(run["concurrency"])
        added = {}
        for q in ("p50", "p99"):
            mine, base = _get(run, "load", "ttft_ms", q), _get(floor or {}, "load", "ttft_ms", q)
            added[q] = mine - base if mine is not None and base is not None else None
        run["added_ttft_ms"] = added
    results["ratios"] = ratios(results["runs"])
    derive_bursts(results)
    results["capacity_ratios"] = capacity_ratios(results.get("capacity") or [])
    results["capacity_scaling"] = capacity_scaling(results.get("capacity") or [])
    results["targets_check"] = check(results)


def derive_bursts(results: dict[str, Any]) -> None:
    """Each burst's TTFT over the floor's burst of the same size, CPU per chat, ours/LiteLLM."""
    bursts = results.get("bursts") or []
    floors = {b["count"]: b for b in bursts if b["target"] == FLOOR}
    for burst in bursts:
        floor = floors.get(burst["count"]) or {}
        burst["added_ttft_ms"] = {
            q: _minus(_get(burst, "load", "start_to_first_ms", q), _get(floor, "load", "start_to_first_ms", q))
            for q in ("p50", "p99")
        }
        ok, cpu = _get(burst, "load", "ok"), _get(burst, "usage", "cpu_s", "target")
        burst["cpu_ms_per_chat"] = 1000 * cpu / ok if ok and cpu is not None else None
    rows = []
    for count in sorted(floors):
        ours = next((b for b in bursts if b["target"] == OURS and b["count"] == count), None)
        peer = next((b for b in bursts if b["target"] == PEER and b["count"] == count), None)
        if ours and peer:
            rows.append(
                {
                    "count": count,
                    "added_ttft_p50": _ratio(ours["added_ttft_ms"]["p50"], peer["added_ttft_ms"]["p50"]),
                    "added_ttft_p99": _ratio(ours["added_ttft_ms"]["p99"], peer["added_ttft_ms"]["p99"]),
                    "cpu_per_chat": _ratio(ours["cpu_ms_per_chat"], peer["cpu_ms_per_chat"]),
                }
            )
    results["burst_ratios"] = rows


def _minus(a: float | None, b: float | None) -> float | None:
    return a - b if a is not None and b is not None else None


def capacity_ratios(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ours over LiteLLM's capacity at each worker count (uvicorn and, if measured, Granian)."""
    rows = []
    for workers in sorted({c["workers"] for c in found}):
        at = {c["kind"]: c for c in found if c["workers"] == workers}
        peer = at.get(PEER)
        for kind in (OURS, "proxy-granian"):
            if kind in at and peer is not None:
                ours = at[kind]
                if peer["max_rate"] > 0:
                    ratio, at_least = _ratio(ours["max_rate"], peer["max_rate"]), ours["capped"]
                else:  # LiteLLM held no rate tried: below its lowest failing one, so the ratio is a floor
                    ratio, at_least = _ratio(ours["max_rate"] or None, peer["first_failing_rate"]), True
                rows.append({"workers": workers, "ours": kind, "ratio": ratio, "at_least": at_least})
    return rows


def capacity_scaling(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target's capacity at N workers over its capacity at the fewest workers searched."""
    rows = []
    for kind in dict.fromkeys(c["kind"] for c in found):
        searched = sorted((c for c in found if c["kind"] == kind), key=lambda c: c["workers"])
        base = searched[0]
        for c in searched[1:]:
            rows.append(
                {
                    "kind": kind,
                    "workers": c["workers"],
                    "over_workers": base["workers"],
                    # None where either held no rate tried: "< the lowest" over "< the lowest" says nothing
                    "ratio": _ratio(c["max_rate"] or None, base["max_rate"]),
                }
            )
    return rows


def _find(runs: list[dict[str, Any]], target: str, concurrency: int) -> dict[str, Any] | None:
    return next((r for r in runs if r["target"] == target and r["concurrency"] == concurrency), None)


def _ratio(mine: float | None, theirs: float | None) -> float | None:
    if mine is None or theirs is None or theirs <= 0:
        return None
    return mine / theirs


def ratios(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for concurrency in sorted({r["concurrency"] for r in runs}):
        ours, peer = _find(runs, OURS, concurrency), _find(runs, PEER, concurrency)
        if ours is None or peer is None:
            continue
        rows.append(
            {
                "concurrency": concurrency,
                "added_ttft_p50": _ratio(ours["added_ttft_ms"]["p50"], peer["added_ttft_ms"]["p50"]),
                "added_ttft_p99": _ratio(ours["added_ttft_ms"]["p99"], peer["added_ttft_ms"]["p99"]),
                "ttft_p99": _ratio(_get(ours, "load", "ttft_ms", "p99"), _get(peer, "load", "ttft_ms", "p99")),
                "cpu_per_chat": _ratio(ours["cpu_ms_per_chat"], peer["cpu_ms_per_chat"]),
                "peak_rss": _ratio(
                    _get(ours, "usage", "peak_rss_mb", "target"), _get(peer, "usage", "peak_rss_mb", "target")
                ),
            }
        )
    return rows


def check(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The speed targets, each with the measured value and whether it was met (None: not measured)."""
    runs = results["runs"]
    lines: list[dict[str, Any]] = []

    def add(goal: str, value: Any, met: bool | None) -> None:
        lines.append({"target": goal, "value": value, "met": met})

    ours = _find(runs, OURS, TARGET_CONCURRENCY)
    for q, goal in (("p50", TARGETS["added_p50_ms"]), ("p99", TARGETS["added_p99_ms"])):
        value = ours["added_ttft_ms"][q] if ours else None
        if ours is None:
            met = None
        elif value is None:  # it ran, and no chat got its first token
            value, met = "no chat finished", False
        else:
            met = value <= goal
        add(f"added TTFT {q} <= {goal:g} ms at {TARGET_CONCURRENCY} chats", value, met)
    errors = _get(ours or {}, "load", "errors")
    add(f"0 errors at {TARGET_CONCURRENCY} chats", errors, None if errors is None else errors == 0)
    idle = results.get("idle") or {}
    held, kb = idle.get("held"), idle.get("kb_per_stream")
    add(f">= {TARGETS['idle_streams']:,} open idle streams", held,
        None if held is None else held >= TARGETS["idle_streams"])  # fmt: skip
    add(f"<= {TARGETS['idle_kb_per_stream']:g} KB per idle stream", kb,
        None if kb is None else kb <= TARGETS["idle_kb_per_stream"])  # fmt: skip
    below = []
    for concurrency in sorted({r["concurrency"] for r in runs}):
        mine, peer = _find(runs, OURS, concurrency), _find(runs, PEER, concurrency)
        if mine and peer:
            for q in ("p50", "p99"):
                a, b = mine["added_ttft_ms"][q], peer["added_ttft_ms"][q]
                if b is not None:  # LiteLLM answered; not answering ourselves counts against us
                    below.append(a is not None and a < b)
    add("added TTFT below LiteLLM's (p50 and p99, every concurrency)",
        f"{sum(below)}/{len(below)}" if below else None, all(below) if below else None)  # fmt: skip
    return lines


# -- text ----------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _num(value: float | None, fmt: str = ".1f") -> str:
    return "–" if value is None else format(value, fmt)


def runs_table(results: dict[str, Any]) -> str:
    head = (
        "| chats | target | ok | errors | refused | TTFT p50 | TTFT p99 | +TTFT p50 | +TTFT p99 | done p50 | done p99 "
        "| thread p50/p99 | CPU s | CPU ms/chat | peak RSS MB | sim CPU s | others' CPU s |\n"
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    rows = [head]
    for run in results["runs"]:
        load, usage = run.get("load") or {}, run.get("usage") or {}
        setup = load.get("setup_ms") or {}
        thread = f"{_ms(setup.get('p50'))} / {_ms(setup.get('p99'))}" if setup else "–"
        sim_cpu = usage.get("cpu_s", {}).get("simulator") if run["target"] != FLOOR else None
        rows.append(
            f"| {run['concurrency']} | {run['target']} | {load.get('ok', 0)} | {load.get('errors', '–')} "
            f"| {load.get('refused_chats', '–')} "
            f"| {_ms(_get(load, 'ttft_ms', 'p50'))} | {_ms(_get(load, 'ttft_ms', 'p99'))} "
            f"| {_ms(run['added_ttft_ms']['p50']) if run['target'] != FLOOR else '–'} "
            f"| {_ms(run['added_ttft_ms']['p99']) if run['target'] != FLOOR else '–'} "
            f"| {_ms(_get(load, 'completion_ms', 'p50'))} | {_ms(_get(load, 'completion_ms', 'p99'))} "
            f"| {thread} | {_num(usage.get('cpu_s', {}).get('target'))} | {_num(run.get('cpu_ms_per_chat'), '.2f')} "
            f"| {_num(usage.get('peak_rss_mb', {}).get('target'), '.0f')} | {_num(sim_cpu)} "
            f"| {_num(usage.get('cpu_s', {}).get('others'))} |"
        )
    return "\n".join(rows)


def ratios_table(results: dict[str, Any]) -> str:
    if not results.get("ratios"):
        return ""
    rows = [
        "| chats | +TTFT p50 ours/LiteLLM | +TTFT p99 ours/LiteLLM | TTFT p99 ours/LiteLLM "
        "| CPU per chat ours/LiteLLM | peak RSS ours/LiteLLM |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["ratios"]:
        rows.append(
            f"| {r['concurrency']} | {_x(r['added_ttft_p50'])} | {_x(r['added_ttft_p99'])} | {_x(r['ttft_p99'])} "
            f"| {_x(r['cpu_per_chat'])} | {_x(r['peak_rss'])} |"
        )
    return "\n".join(rows)


def idle_table(results: dict[str, Any]) -> str:
    rows = []
    for name, idle in (("proxy", results.get("idle")), ("litellm", results.get("idle_litellm"))):
        if not idle:
            continue
        if not rows:
            rows = [
                "| target | streams asked | held | with a heartbeat | RSS before MB | RSS holding MB "
                "| KB per stream | opened in s | errors |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
        rows.append(
            f"| {name} | {idle['count']} | {idle['held']} | {idle.get('with_ping', '–')} "
            f"| {_num(idle['rss_before_mb'], '.0f')} | {_num(idle['rss_held_mb'], '.0f')} "
            f"| {_num(idle['kb_per_stream'])} | {_num(idle['open_seconds'])} | {idle.get('errors', '–')} |"
        )
    return "\n".join(rows)


def checks_table(results: dict[str, Any]) -> str:
    rows = ["| target | measured | met |", "|---|---:|---|"]
    for line in results.get("targets_check", []):
        value = line["value"]
        shown = f"{value:.1f}" if isinstance(value, float) else ("–" if value is None else str(value))
        met = {True: "yes", False: "**no**", None: "not measured"}[line["met"]]
        rows.append(f"| {line['target']} | {shown} | {met} |")
    return "\n".join(rows)


def bursts_table(results: dict[str, Any]) -> str:
    rounds = results["settings"].get("burst_rounds", 1)
    rows = [
        f"Bursts: N chats released at one instant, {rounds} time(s) each; TTFT from that instant "
        "(ours: the thread's creation included).",
        "",
        "| chats at once | target | ok | errors | refused | TTFT p50 | TTFT p99 | +TTFT p50 | +TTFT p99 "
        "| CPU ms/chat |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in results.get("bursts") or []:
        load = b["load"]
        first = load["start_to_first_ms"]
        added = b.get("added_ttft_ms") or {}
        rows.append(
            f"| {b['count']} | {b['target']} | {load['ok']} | {load['errors']} | {load['refused_chats']} | "
            f"{_ms(first['p50'])} | "
            f"{_ms(first['p99'])} | {_ms(added.get('p50'))} | {_ms(added.get('p99'))} | "
            f"{_ms(b.get('cpu_ms_per_chat'))} |"
        )
    if results.get("burst_ratios"):
        rows += ["", "| chats at once | +TTFT p50 ours/LiteLLM | +TTFT p99 ours/LiteLLM | CPU per chat ours/LiteLLM |"]
        rows.append("|---:|---:|---:|---:|")
        for r in results["burst_ratios"]:
            rows.append(
                f"| {r['count']} | {_x(r['added_ttft_p50'])} | {_x(r['added_ttft_p99'])} | {_x(r['cpu_per_chat'])} |"
            )
    return "\n".join(rows)


def _step(step: dict[str, Any]) -> str:
    notes = [f"{step['errors']} errors"] if step["errors"] else []
    if step.get("refused_chats"):
        notes.append(f"{step['refused_chats']} refused")
    extra = f" ({', '.join(notes)})" if notes else ""
    return f"{step['rate']:g}: {_ms(step['added_p99_ms'])}{extra}{'' if step['ok'] else ' ✗'}"


def capacity_table(results: dict[str, Any]) -> str:
    c = results["settings"].get("capacity") or {}
    budget = results["settings"].get("cpu_per_worker")
    rows = [
        f"Capacity: the highest rate of new chats (Poisson arrivals, {c.get('duration', 0):g} s per step) with "
        f"added TTFT p99 <= {c.get('bound_added_p99_ms', 0):g} ms and no errors; a failed step and the rate "
        "found are tried again (two of three decide; * : the rate found did not hold twice).",
    ]
    if budget:
        rows += [
            f"Every worker of ours and LiteLLM's is capped at {budget:g} core of CPU time (a cgroup each, "
            "`--cpu-per-worker`); the simulator, the load generator and Postgres run uncapped, and all of them "
            "with a weight over other work on the machine."
        ]
    rows += [
        "",
        "| target | workers | new chats/s | per worker | per core | first rate that failed "
        "| steps (rate: added p99 ms) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for found in results.get("capacity") or []:
        steps = ", ".join(_step(s) for s in found["steps"])
        failing = found["first_failing_rate"]
        cores = found["workers"] * budget if budget else None
        if found["max_rate"] == 0 and failing is not None:  # not even the lowest rate tried held
            rate, per_worker = f"< {failing:g}", f"< {failing / found['workers']:.2g}"
            per_core = f"< {failing / cores:.2g}" if cores else "–"
        else:
            at_least = "≥ " if found["capped"] else ""
            unsure = "" if found.get("confirmed", True) else "*"
            rate, per_worker = f"{at_least}{found['max_rate']:g}{unsure}", f"{at_least}{found['per_worker']:.1f}"
            per_core = f"{at_least}{found['max_rate'] / cores:.1f}" if cores else "–"
        rows.append(
            f"| {found['target']} | {found['workers']} | {rate} | {per_worker} | {per_core} | "
            f"{'–' if failing is None else f'{failing:g}'} | {steps} |"
        )
    if results.get("capacity_scaling"):
        rows += ["", "| target | workers | capacity over fewer workers |", "|---|---:|---:|"]
        for r in results["capacity_scaling"]:
            rows.append(f"| {r['kind']} | {r['workers']} | {_x(r['ratio'])} (over {r['over_workers']}) |")
    if results.get("capacity_ratios"):
        rows += ["", "| workers | ours | capacity ours/LiteLLM |", "|---:|---|---:|"]
        for r in results["capacity_ratios"]:
            shown = _x(r["ratio"]) if r["ratio"] is None or not r["at_least"] else f"≥ {_x(r['ratio'])}"
            rows.append(f"| {r['workers']} | {r['ours']} | {shown} |")
    return "\n".join(rows)


def render(results: dict[str, Any]) -> str:
    s = results["settings"]
    parts = [
        f"### {results['date']} — `{results['command']}`",
        "",
        f"Machine: {results['machine']['cpus']} cores, {results['machine']['memory_gb']:.0f} GB; "
        f"Python {results['machine']['python']}; load average at start "
        f"{' / '.join(f'{x:.2f}' for x in results['machine'].get('load_average_at_start') or ())}, at the end "
        f"{' / '.join(f'{x:.2f}' for x in results['machine'].get('load_average_at_end') or ())}; "
        "one worker per target unless the capacity table says otherwise; "
        f"simulator: {s['sim_workers']} worker(s), {s['ttft_ms']} ms to first token, "
        f"{s['tokens']} tokens {s['gap_ms']} ms apart; {s['duration']:g} s measured per run. "
        f"LiteLLM {results.get('litellm_version') or 'not run'}.",
        "",
    ]
    if results.get("runs"):
        parts += [runs_table(results)]
    if results.get("ratios"):
        parts += ["", ratios_table(results)]
    if results.get("idle") or results.get("idle_litellm"):
        parts += ["", idle_table(results)]
    if results.get("bursts"):
        parts += ["", bursts_table(results)]
    if results.get("capacity"):
        parts += ["", capacity_table(results)]
    if results.get("runs") or results.get("idle"):  # the targets are about steady load and idle streams
        parts += ["", checks_table(results)]
    for name, reason in (results.get("skipped") or {}).items():
        parts += ["", f"{name} not run: {reason}"]
    return "\n".join(parts)


def write(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
