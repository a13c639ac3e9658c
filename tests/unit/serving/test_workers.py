"""How many workers `serve` runs, and where several of them keep their metrics."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, multiprocess

from proxy.observability.metrics import forget_dead_workers
from proxy.serving import MULTIPROC_ENV, shared_metrics, usable_cores, worker_count


def test_the_flag_wins_then_web_concurrency_then_one_per_core() -> None:
    assert worker_count(3, {"WEB_CONCURRENCY": "5"}) == 3
    assert worker_count(None, {"WEB_CONCURRENCY": "5"}) == 5
    assert worker_count(None, {}) == usable_cores() >= 1
    assert worker_count(None, {"WEB_CONCURRENCY": " "}) == usable_cores()


@pytest.mark.parametrize("given", ["0", "-1", "two"])
def test_a_bad_count_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match=r"workers|WEB_CONCURRENCY"):
        worker_count(None, {"WEB_CONCURRENCY": given})


def test_a_cgroup_quota_caps_the_cores(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    affinity = len(os.sched_getaffinity(0))
    none_own = tmp_path / "no-such-cgroup-file"
    cpu_max.write_text("max 100000\n")
    assert usable_cores(tmp_path, none_own) == affinity
    cpu_max.write_text("50000 100000\n")  # half a core: still one worker
    assert usable_cores(tmp_path, none_own) == 1
    cpu_max.write_text(f"{(affinity + 8) * 100000} 100000\n")  # a quota above the cores we may use
    assert usable_cores(tmp_path, none_own) == affinity
    assert usable_cores(tmp_path / "missing", none_own) == affinity


def _own_cgroups(tmp_path: Path, *lines: str) -> Path:
    own = tmp_path / "self-cgroup"
    own.write_text("".join(f"{line}\n" for line in lines))
    return own


def test_a_cgroup_v1_quota_on_the_process_own_cgroup_caps_the_cores(tmp_path: Path) -> None:
    """On a host with cgroup v1 (or a systemd slice), the quota sits on the process's own cgroup
    under the ``cpu`` controller's hierarchy, not at the root."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: no quota can lower the count")
    root = tmp_path / "fs"
    folder = root / "cpu" / "shop" / "proxy"
    folder.mkdir(parents=True)
    (root / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # the root sets none
    (root / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    (folder / "cpu.cfs_quota_us").write_text("100000\n")
    (folder / "cpu.cfs_period_us").write_text("100000\n")
    own = _own_cgroups(tmp_path, "4:memory:/elsewhere", "1:cpu:/shop/proxy", "0::/")
    assert usable_cores(root, own) == 1
    (folder / "cpu.cfs_quota_us").write_text("-1\n")
    assert usable_cores(root, own) == len(os.sched_getaffinity(0))


def test_a_cgroup_v2_quota_on_the_process_own_cgroup_caps_the_cores(tmp_path: Path) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: no quota can lower the count")
    root = tmp_path / "fs"
    folder = root / "system.slice" / "proxy.service"
    folder.mkdir(parents=True)
    (root / "cpu.max").write_text("max 100000\n")
    (folder / "cpu.max").write_text("100000 100000\n")  # one core, below the root (which sets none)
    own = _own_cgroups(tmp_path, "0::/system.slice/proxy.service")
    assert usable_cores(root, own) == 1


def test_several_workers_get_a_temporary_metrics_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with shared_metrics(1) as folder:
        assert folder is None and MULTIPROC_ENV not in os.environ
    with shared_metrics(2) as folder:
        assert folder is not None and os.environ[MULTIPROC_ENV] == folder and Path(folder).is_dir()
    assert MULTIPROC_ENV not in os.environ
    assert not Path(folder).exists()


def test_a_metrics_folder_the_operator_set_is_used_and_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    with shared_metrics(4) as folder:
        assert folder == str(tmp_path)
    assert os.environ[MULTIPROC_ENV] == str(tmp_path) and tmp_path.is_dir()


WORKER = """
import sys
from prometheus_client import Counter, Gauge
Gauge("open", "open streams", multiprocess_mode="livesum").set(int(sys.argv[1]))
Counter("done", "finished").inc(int(sys.argv[1]))
if sys.argv[2] == "stay":
    print("ready", flush=True)
    sys.stdin.readline()
"""


def _scrape(folder: Path) -> dict[str, float]:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, str(folder))  # type: ignore[no-untyped-call]
    return {sample.name: sample.value for metric in registry.collect() for sample in metric.samples}


def test_a_dead_workers_live_gauges_are_dropped_and_its_counters_kept(tmp_path: Path) -> None:
    env = {**os.environ, MULTIPROC_ENV: str(tmp_path)}
    subprocess.run([sys.executable, "-c", WORKER, "3", "exit"], env=env, check=True)
    alive = subprocess.Popen(
        [sys.executable, "-c", WORKER, "4", "stay"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert alive.stdout is not None and alive.stdout.readline() == "ready\n"
        assert _scrape(tmp_path)["open"] == 7  # the gone worker's 3 still counted

        forget_dead_workers(str(tmp_path))

        scraped = _scrape(tmp_path)
        assert scraped["open"] == 4
        assert scraped["done_total"] == 7
    finally:
        alive.communicate("\n", timeout=30)


def test_a_quota_on_a_slice_above_the_process_cgroup_caps_the_cores(tmp_path: Path) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: no quota can lower the count")
    root = tmp_path / "fs"
    (root / "shop.slice" / "proxy.scope").mkdir(parents=True)
    (root / "shop.slice" / "cpu.max").write_text("100000 100000\n")
    (root / "shop.slice" / "proxy.scope" / "cpu.max").write_text("max 100000\n")
    own = _own_cgroups(tmp_path, "0::/shop.slice/proxy.scope")
    assert usable_cores(root, own) == 1
