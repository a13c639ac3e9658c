"""A fixed CPU budget per server worker, from the kernel's CPU controller (cgroups v1 or v2).

On a machine with few cores the simulator, the load generator and Postgres take cores too, so a
target's second worker may find no idle core to run on, and a capacity search at two workers
measures the machine rather than the target. With a budget (``--cpu-per-worker CORES``), each
worker process of a target runs in a cgroup of its own whose CPU time is capped at ``CORES``
(the completely fair scheduler's quota over a 10 ms period), and the target's other processes (a
supervisor, multiprocessing's resource tracker) in one beside them, under a cgroup capped at
``workers × CORES``: one worker is one share of a core, N workers get N shares, whatever runs
beside them.

A cap alone reserves nothing: on a shared machine other work still takes the CPU a worker may
use, and a share that others can take is not a share. So the bench's cgroup as a whole weighs
:data:`PRIORITY` times an ordinary process with the scheduler; the simulator, the load generator
and Postgres run in it too (in a cgroup without a cap, :meth:`CpuBudget.favour`), so that other
work slows neither the floor nor the load. Within it, the caps hold.

The processes are moved after the target answered, so start-up runs at full speed; a process a
worker forks later lands in its parent's cgroup and so stays within the budget. Each cgroup is
removed when its target stops (:meth:`CpuBudget.release`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

__all__ = [
    "PERIOD_US",
    "BudgetUnavailable",
    "Controller",
    "CpuBudget",
    "Proc",
    "find_controller",
    "split_workers",
]

CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")
CGROUP_V2 = Path("/sys/fs/cgroup")
# A worker out of quota waits for the next period: at 0.4 core in the kernel's default 100 ms
# periods that wait reaches 60 ms, past the capacity search's 50 ms bound on its own; in 10 ms
# periods it stays under 6 ms, closer to what a worker sharing a core sees.
PERIOD_US = 10_000
MIN_QUOTA_US = 1_000  # the kernel refuses a smaller quota
# The bench's weight with the scheduler, in ordinary processes (cpu.shares 1024, cpu.weight 100):
# at 8, a machine with a load average of 13 still took 60 % of the CPU from under the bench.
PRIORITY = 32
# processes of multiprocessing's own that serve the workers rather than requests
_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.semaphore_tracker", "multiprocessing.forkserver")
_REMOVE_WAIT_S = 5.0  # an exiting process may hold its cgroup a moment after its parent reaped it


class BudgetUnavailable(Exception):
    """No CPU controller this process may write: the message says where it looked and why it failed."""


@dataclass(frozen=True)
class Controller:
    """Where cgroups with a CPU controller are made, and in which format their quota is written."""

    root: Path
    version: int  # 1: cpu.cfs_quota_us and cpu.cfs_period_us; 2: cpu.max

    def make(
        self, group: Path, cores: float | None, *, parent_of_leaves: bool = False, priority: float | None = None
    ) -> None:
        """Create ``group`` (under ``root``), capped at ``cores`` of CPU time (None: no cap of its own),
        weighing ``priority`` ordinary processes with the scheduler (None: as one)."""
        path = self.root / group
        path.mkdir(exist_ok=True)
        if priority is not None:
            if self.version == 1:
                (path / "cpu.shares").write_text(f"{round(1024 * priority)}\n")
            else:
                (path / "cpu.weight").write_text(f"{min(10_000, round(100 * priority))}\n")
        if cores is not None:
            quota = max(MIN_QUOTA_US, round(cores * PERIOD_US))
            if self.version == 1:
                (path / "cpu.cfs_period_us").write_text(f"{PERIOD_US}\n")
                (path / "cpu.cfs_quota_us").write_text(f"{quota}\n")
            else:
                (path / "cpu.max").write_text(f"{quota} {PERIOD_US}\n")
        if self.version == 2 and parent_of_leaves:  # v2: a cgroup gives its children the controller
            (path / "cgroup.subtree_control").write_text("+cpu\n")

    def move(self, group: Path, pid: int) -> None:
        """Move process ``pid`` (all its threads) into ``group``."""
        (self.root / group / "cgroup.procs").write_text(f"{pid}\n")

    def remove(self, group: Path) -> None:
        """Remove ``group`` and the cgroups under it (once their processes are gone)."""
        path = self.root / group
        if not path.is_dir():
            return
        for child in sorted((p for p in path.iterdir() if p.is_dir()), reverse=True):
            self.remove(group / child.name)
        deadline = time.monotonic() + _REMOVE_WAIT_S
        while True:
            try:
                path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:  # EBUSY while a process that was in it finishes exiting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def throttled_s(self, group: Path) -> float | None:
        """How long the kernel held ``group``'s processes back for want of quota, in seconds."""
        try:
            lines = (self.root / group / "cpu.stat").read_text().splitlines()
        except OSError:
            return None
        stats = dict(line.split()[:2] for line in lines if len(line.split()) >= 2)
        if self.version == 1 and "throttled_time" in stats:
            return int(stats["throttled_time"]) / 1e9  # nanoseconds
        if self.version == 2 and "throttled_usec" in stats:
            return int(stats["throttled_usec"]) / 1e6
        return None


def find_controller(v1: Path = CGROUP_V1_CPU, v2: Path = CGROUP_V2) -> Controller:
    """The CPU controller this process can make cgroups in, checked by making (and removing) one.

    Raises :class:`BudgetUnavailable` saying what was tried.
    """
    if (v1 / "cpu.cfs_quota_us").exists():
        controller = Controller(v1, 1)
    elif "cpu" in _read(v2 / "cgroup.controllers").split():
        controller = Controller(v2, 2)
        try:  # the root gives its children the CPU controller (already so on most systems)
            if "cpu" not in _read(v2 / "cgroup.subtree_control").split():
                (v2 / "cgroup.subtree_control").write_text("+cpu\n")
        except OSError as exc:
            raise BudgetUnavailable(f"cannot enable the cpu controller in {v2}: {exc}") from exc
    else:
        raise BudgetUnavailable(
            f"no cgroup CPU controller found (neither {v1}/cpu.cfs_quota_us nor 'cpu' in {v2}/cgroup.controllers)"
        )
    probe = Path(f"assistant-proxy-bench-probe-{os.getpid()}")
    sleeper = subprocess.Popen(["sleep", "30"])  # a process to move: not this one, which must stay uncapped
    try:
        controller.make(probe, 0.5)
        controller.move(probe, sleeper.pid)
    except OSError as exc:
        raise BudgetUnavailable(
            f"cannot make a capped cgroup in {controller.root} and move a process into it: {exc}"
        ) from exc
    finally:
        sleeper.kill()
        sleeper.wait()
        with contextlib.suppress(OSError):
            controller.remove(probe)
    return controller


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


@dataclass(frozen=True)
class Proc:
    """What :func:`split_workers` needs to know of a process."""

    pid: int
    ppid: int
    cmdline: str


def split_workers(root: int, tree: list[Proc]) -> tuple[dict[int, list[int]], list[int]]:
    """The worker processes of a server started as process ``root``, and the rest of its tree.

    The workers are the root's children other than multiprocessing's helpers (uvicorn, Granian
    and LiteLLM with several workers: a supervisor and one child per worker), or the root itself
    when it has none (one worker, served in the process that was started). Returns each worker
    with its own descendants (they share its budget), and the processes that are nobody's worker.
    """
    children: dict[int, list[Proc]] = {}
    for proc in tree:
        children.setdefault(proc.ppid, []).append(proc)
    workers = [p.pid for p in children.get(root, []) if not any(h in p.cmdline for h in _HELPERS)]
    if not workers:
        workers = [root]

    def below(pid: int) -> list[int]:
        found = []
        for child in children.get(pid, []):
            found += [child.pid, *below(child.pid)]
        return found

    groups = {pid: [pid, *below(pid)] for pid in workers}
    assigned = {pid for group in groups.values() for pid in group}
    rest = [p.pid for p in tree if p.pid not in assigned]
    if root not in assigned and root not in rest:
        rest.insert(0, root)
    return groups, rest


def process_tree(root: int) -> list[Proc]:
    """The process ``root`` and its descendants, as :class:`Proc` (the gone ones skipped)."""
    found = []
    try:
        top = psutil.Process(root)
        procs = [top, *top.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            found.append(Proc(proc.pid, proc.ppid(), " ".join(proc.cmdline())))
    return found


@dataclass
class CpuBudget:
    """``cores`` of CPU time per worker for every target given to :meth:`apply`."""

    cores: float
    controller: Controller
    top: Path = field(default_factory=lambda: Path(f"assistant-proxy-bench-{os.getpid()}"))
    priority: float = PRIORITY
    _targets: dict[str, int] = field(default_factory=dict)  # target -> workers found
    _made: bool = False

    def _top(self) -> None:
        if not self._made:
            self.controller.make(self.top, None, parent_of_leaves=True, priority=self.priority)
            self._made = True

    def favour(self, pids: list[int]) -> None:
        """Run ``pids`` (the simulator, the load generator, Postgres) in the bench's cgroup, uncapped."""
        self._top()
        self.controller.make(self.top / "uncapped", None)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                self.controller.move(self.top / "uncapped", pid)

    def apply(self, target: str, root_pid: int, workers: int) -> int:
        """Cap ``target`` (started as ``root_pid`` with ``workers`` workers); the workers found.

        The target's cgroup is capped at ``workers × cores``; each worker found in it at ``cores``.
        """
        self._top()
        group = self.top / target
        self.controller.make(group, workers * self.cores, parent_of_leaves=True)
        self._targets[target] = 0
        found, rest = split_workers(root_pid, process_tree(root_pid))
        self.controller.make(group / "rest", None)
        for pid in rest:  # first, so that a worker is never moved back with its parent
            with contextlib.suppress(ProcessLookupError):
                self.controller.move(group / "rest", pid)
        for index, pids in enumerate(found.values()):
            leaf = group / f"worker-{index}"
            self.controller.make(leaf, self.cores)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    self.controller.move(leaf, pid)
        self._targets[target] = len(found)
        return len(found)

    def throttled_s(self, target: str) -> float | None:
        """The time ``target``'s processes waited for quota so far (None: not capped here)."""
        return self.controller.throttled_s(self.top / target) if target in self._targets else None

    def release(self, target: str) -> None:
        """Remove ``target``'s cgroups (call once its processes are gone)."""
        if self._targets.pop(target, None) is not None:
            with contextlib.suppress(OSError):
                self.controller.remove(self.top / target)

    def close(self) -> None:
        """Remove every cgroup made here."""
        for target in list(self._targets):
            self.release(target)
        if self._made:
            with contextlib.suppress(OSError):
                self.controller.remove(self.top)
            self._made = False
