"""CPU seconds and peak memory of the processes under test while one load run goes on."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psutil

from bench.targets import tree_usage

Group = Callable[[], list[psutil.Process]]


def _busy_seconds() -> float:
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0) + getattr(t, "steal", 0.0)


class Monitor:
    """Samples each named group of processes every ``interval`` seconds between start() and stop().

    CPU is the difference of the groups' CPU times over the window; ``others`` is what the rest of
    the machine used in the same window (other people's work on a shared box shows up there).
    """

    def __init__(self, groups: dict[str, Group], interval: float = 0.1) -> None:
        self.groups = groups
        self.interval = interval
        self.peak_rss: dict[str, int] = dict.fromkeys(groups, 0)
        self._procs: dict[str, dict[int, psutil.Process]] = {name: {} for name in groups}
        self._cpu_start: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-monitor", daemon=True)
        self._busy_start = 0.0
        self._started = False
        self.result: dict[str, dict[str, float]] = {}

    def _collect(self) -> None:
        for name, group in self.groups.items():
            known = self._procs[name]
            for proc in group():
                if proc.pid not in known:
                    known[proc.pid] = proc
                    # processes seen at start count from their CPU time then; later ones are new
                    self._cpu_start.setdefault(proc.pid, 0.0 if self._started else self._cpu_of(proc))
            for pid, proc in known.items():  # the last reading counts for processes that exit before stop()
                cpu = self._cpu_of(proc)
                if cpu:
                    self._cpu_last[pid] = cpu
            _, rss = tree_usage(list(known.values()))
            self.peak_rss[name] = max(self.peak_rss[name], rss)

    @staticmethod
    def _cpu_of(proc: psutil.Process) -> float:
        try:
            times = proc.cpu_times()
            return times.user + times.system
        except psutil.Error:
            return 0.0

    def start(self) -> Monitor:
        self._busy_start = _busy_seconds()
        self._collect()
        self._started = True
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._collect()

    def stop(self) -> dict[str, dict[str, float]]:
        self._stop.set()
        self._thread.join()
        self._collect()
        busy = _busy_seconds() - self._busy_start
        cpu: dict[str, float] = {}
        for name, known in self._procs.items():
            cpu[name] = sum(
                max(0.0, max(self._cpu_of(p), self._cpu_last.get(p.pid, 0.0)) - self._cpu_start.get(p.pid, 0.0))
                for p in known.values()
            )
        cpu["others"] = max(0.0, busy - sum(cpu.values()))
        self.result = {"cpu_s": cpu, "peak_rss_mb": {k: v / 2**20 for k, v in self.peak_rss.items()}}
        return self.result
