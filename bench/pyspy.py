"""Sampling our proxy with py-spy during one load run, and the hottest frames of what it saw."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.targets import ROOT

_STDLIB = re.compile(r"^.*/lib/python3\.\d+/")


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def start(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes] | None:
    """``py-spy record`` in collapsed-stack form (one ``frame;frame;... count`` line per stack)."""
    exe = py_spy()
    if exe is None:
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        exe, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", "100",
        "--format", "raw", "--output", str(output), "--nonblocking",
    ]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _short(frame: str) -> str:
    """``func (path/to/site-packages/pkg/mod.py:12)`` -> ``func (pkg/mod.py:12)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", f"{ROOT}/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    where = _STDLIB.sub("", where)
    return f"{name} ({where})" if where else name


def summarize(raw: Path, top: int = 25) -> dict[str, Any]:
    """Share of the event loop thread's samples per frame: where time is spent (self), under what (inclusive)."""
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        if "Thread._bootstrap (" in stack:  # helper threads (logging, executors): the event loop is what counts
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        own[frames[-1]] += n
        leaf_file = frames[-1].rpartition(" (")[2].split(":")[0]
        by_file[leaf_file] += n
        for frame in set(frames):
            under[frame] += n
    if not total:
        return {"samples": 0}

    def share(counter: Counter[str]) -> list[tuple[float, str]]:
        return [(round(100 * n / total, 1), frame) for frame, n in counter.most_common(top)]

    return {"samples": total, "self": share(own), "inclusive": share(under), "self_by_file": share(by_file)}
