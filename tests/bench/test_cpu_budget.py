"""``--cpu-per-worker``: which processes are a server's workers, what is written where, and a
clear refusal where no CPU controller may be written.

The files are written into a folder laid out as the kernel's (real processes, a stand-in for the
cgroup file system); one test uses the real controller where this machine lets it, and is skipped
elsewhere (CI need not run as root).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from bench import run
from bench.cpu_budget import BudgetUnavailable, Controller, CpuBudget, Proc, find_controller, split_workers

SPAWNED = "python -c from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5) --multiprocessing-fork"
TRACKER = "python -c from multiprocessing.resource_tracker import main;main(4)"


def test_one_process_is_its_own_worker() -> None:
    workers, rest = split_workers(10, [Proc(10, 1, "python -m proxy serve --workers 1")])
    assert workers == {10: [10]} and rest == []


def test_with_several_workers_the_supervisor_and_helpers_are_not_workers() -> None:
    tree = [
        Proc(10, 1, "python -m proxy serve --workers 2"),
        Proc(11, 10, TRACKER),
        Proc(12, 10, SPAWNED),
        Proc(13, 10, SPAWNED),
        Proc(14, 13, "some helper a worker started"),
    ]
    workers, rest = split_workers(10, tree)
    assert workers == {12: [12], 13: [13, 14]}  # a worker's own children share its budget
    assert sorted(rest) == [10, 11]


@pytest.fixture
def server() -> Iterator[subprocess.Popen[bytes]]:
    """A real process tree: a parent with two children, as a server with two workers."""
    code = (
        "import subprocess, sys, time; "
        "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']) for _ in range(2)]; "
        "print('ready', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    yield proc
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def fake_v1(tmp_path: Path) -> Path:
    root = tmp_path / "cpu"
    root.mkdir()
    (root / "cpu.cfs_quota_us").write_text("-1\n")
    return root


def test_each_worker_gets_its_share_and_the_target_the_sum(tmp_path: Path, server: subprocess.Popen[bytes]) -> None:
    root = fake_v1(tmp_path)
    budget = CpuBudget(0.5, Controller(root, 1))
    assert budget.apply("proxy-2w", server.pid, workers=2) == 2
    group = root / budget.top / "proxy-2w"
    assert (group / "cpu.cfs_quota_us").read_text() == "10000\n"  # two halves of a 10 ms period
    assert (group / "cpu.cfs_period_us").read_text() == "10000\n"
    for leaf in ("worker-0", "worker-1"):
        assert (group / leaf / "cpu.cfs_quota_us").read_text() == "5000\n"
    moved = {int((group / leaf / "cgroup.procs").read_text()) for leaf in ("worker-0", "worker-1")}
    assert moved == {child.pid for child in psutil.Process(server.pid).children()}
    assert int((group / "rest" / "cgroup.procs").read_text()) == server.pid
    assert not (group / "rest" / "cpu.cfs_quota_us").exists()  # the supervisor only shares the sum


def test_cgroups_v2_are_written_in_their_own_format(tmp_path: Path, server: subprocess.Popen[bytes]) -> None:
    budget = CpuBudget(0.4, Controller(tmp_path, 2))
    budget.apply("litellm", server.pid, workers=2)
    group = tmp_path / budget.top / "litellm"
    assert (group / "cpu.max").read_text() == "8000 10000\n"
    assert (group / "worker-1" / "cpu.max").read_text() == "4000 10000\n"
    assert (group / "cgroup.subtree_control").read_text() == "+cpu\n"  # v2: the leaves get the controller


def test_without_a_cpu_controller_the_reason_is_given(tmp_path: Path) -> None:
    with pytest.raises(
        BudgetUnavailable, match=r"no cgroup CPU controller found.*cpu.cfs_quota_us.*cgroup.controllers"
    ):
        find_controller(tmp_path / "v1", tmp_path / "v2")


def test_a_controller_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    root = fake_v1(tmp_path)
    (root / f"assistant-proxy-bench-probe-{os.getpid()}").write_text("")  # where the probe's cgroup would go
    with pytest.raises(BudgetUnavailable, match=r"cannot make a capped cgroup"):
        find_controller(root, tmp_path / "v2")


def test_the_bench_refuses_to_run_without_a_budget_it_can_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def unavailable() -> Controller:
        raise BudgetUnavailable("cannot make a capped cgroup in /sys/fs/cgroup/cpu: read-only file system")

    monkeypatch.setattr(run, "find_controller", unavailable)
    with pytest.raises(SystemExit) as exited:
        run.parse_args(["--capacity", "--cpu-per-worker", "0.5"])
    assert exited.value.code == 2
    assert "--cpu-per-worker needs a cgroup CPU controller" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run.parse_args(["--cpu-per-worker", "0"])


def test_the_real_controller_caps_the_processes(server: subprocess.Popen[bytes]) -> None:
    try:
        controller = find_controller()
    except BudgetUnavailable as exc:
        pytest.skip(f"no writable CPU controller here: {exc}")
    budget = CpuBudget(0.25, controller)
    try:
        budget.apply("bench-test", server.pid, workers=2)
        children = psutil.Process(server.pid).children()
        for proc in [server.pid, *(child.pid for child in children)]:
            membership = Path(f"/proc/{proc}/cgroup").read_text()
            assert f"{budget.top}/bench-test/" in membership, membership
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        budget.close()
    assert not (controller.root / budget.top).exists()


def test_the_bench_weighs_more_and_its_helpers_run_uncapped(tmp_path: Path, server: subprocess.Popen[bytes]) -> None:
    root = fake_v1(tmp_path)
    budget = CpuBudget(0.5, Controller(root, 1))
    budget.favour([server.pid])
    assert (root / budget.top / "cpu.shares").read_text() == "32768\n"  # 32 ordinary processes
    assert int((root / budget.top / "uncapped" / "cgroup.procs").read_text()) == server.pid
    assert not (root / budget.top / "uncapped" / "cpu.cfs_quota_us").exists()
    v2 = CpuBudget(0.5, Controller(tmp_path, 2))
    v2.favour([server.pid])
    assert (tmp_path / v2.top / "cpu.weight").read_text() == "3200\n"
