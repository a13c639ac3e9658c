"""Admission control driven by hand: lag samples, hysteresis, the cap on running turns, settings."""

from __future__ import annotations

import gc
import logging
from contextlib import ExitStack
from typing import Any

import anyio
import pytest
from prometheus_client import REGISTRY

from proxy.api.turns import refused_error
from proxy.settings import Settings
from proxy.turns.admission import RETRY_AFTER, Admission, CpuMonitor, LagMonitor, TurnRefused
from proxy.turns.manager import TurnManager
from proxy.turns.young_gc import DEFERRED_THRESHOLD, STARTING
from tests.support.waiting import eventually


def feed(monitor: LagMonitor, sample: float, times: int) -> None:
    for _ in range(times):
        monitor.record(sample)


def refused(reason: str) -> float:
    return REGISTRY.get_sample_value("proxy_turns_refused_total", {"reason": reason}) or 0.0


# -- the lag monitor --------------------------------------------------------------------------------


LAG = 0.05  # the default threshold


def test_a_healthy_loop_is_not_overloaded() -> None:
    monitor = LagMonitor(LAG)
    feed(monitor, 0.003, 100)
    assert not monitor.overloaded
    assert monitor.lag == pytest.approx(0.003)


def test_sustained_lag_over_the_threshold_overloads() -> None:
    monitor = LagMonitor(LAG)
    feed(monitor, 0.1, 3)
    assert not monitor.overloaded  # the average is still catching up
    monitor.record(0.1)
    assert monitor.overloaded
    assert monitor.lag > LAG


def test_a_short_stall_does_not_overload_and_a_long_one_only_briefly() -> None:
    monitor = LagMonitor(LAG)
    feed(monitor, 0.002, 20)
    monitor.record(0.2)  # a quarter-second pause
    assert not monitor.overloaded
    feed(monitor, 0.002, 20)
    monitor.record(0.95)  # a one-second pause, less the 50 ms asked for
    assert monitor.overloaded
    feed(monitor, 0.002, 10)  # half a second of healthy samples
    assert not monitor.overloaded


def test_hysteresis_recovers_only_below_half_the_threshold() -> None:
    monitor = LagMonitor(LAG)
    feed(monitor, 0.25, 10)
    assert monitor.overloaded
    feed(monitor, 0.04, 50)  # under the threshold, but not under half of it
    assert monitor.lag < LAG
    assert monitor.overloaded
    feed(monitor, 0.0, 3)
    assert monitor.lag < LAG / 2
    assert not monitor.overloaded
    feed(monitor, 0.04, 50)  # and back between the two: still accepting
    assert not monitor.overloaded


def test_negative_samples_count_as_on_time() -> None:
    monitor = LagMonitor(LAG)
    monitor.record(-0.004)  # woken a little early
    assert monitor.lag == 0.0


def test_start_and_end_of_shedding_are_logged_once_each(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="proxy.turns.admission")
    monitor = LagMonitor(LAG)
    feed(monitor, 1.0, 20)
    feed(monitor, 0.0, 30)
    messages = [r.getMessage() for r in caplog.records if r.name == "proxy.turns.admission"]
    assert len(messages) == 2
    assert "refusing new turns" in messages[0]
    assert "accepting new turns again" in messages[1]
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == "proxy.turns.admission")


def test_the_gauge_shows_the_smoothed_lag() -> None:
    monitor = LagMonitor(LAG)
    feed(monitor, 0.3, 40)
    assert REGISTRY.get_sample_value("proxy_event_loop_lag_seconds") == pytest.approx(monitor.lag)
    assert monitor.lag == pytest.approx(0.3, abs=0.001)


def test_a_threshold_of_zero_is_not_a_monitor() -> None:
    with pytest.raises(ValueError):
        LagMonitor(0)


class SteppingClock:
    """Each reading is ``step`` seconds after the previous one: every sleep looks ``step`` long."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.now = 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


async def sample_until_overloaded(monitor: LagMonitor | CpuMonitor) -> None:
    """Run the monitor's sampler until it declares the worker overloaded."""
    async with anyio.create_task_group() as group:
        group.start_soon(monitor.run)

        async def overloaded() -> bool:
            return monitor.overloaded

        await eventually(overloaded)
        group.cancel_scope.cancel()


async def test_the_sampler_records_how_late_it_wakes() -> None:
    monitor = LagMonitor(LAG, interval=0.001, clock=SteppingClock(0.101))  # 0.1 s late every time
    await sample_until_overloaded(monitor)
    assert monitor.lag > LAG


# -- the CPU monitor --------------------------------------------------------------------------------


BUSY = 0.95  # the default threshold
TICK = 0.05  # seconds between samples


def run_busy(monitor: CpuMonitor, share: float, seconds: float) -> None:
    for _ in range(round(seconds / TICK)):
        monitor.record(share * TICK, TICK)


def test_a_worker_with_headroom_is_not_overloaded() -> None:
    monitor = CpuMonitor(BUSY)
    run_busy(monitor, 0.8, 10)
    assert not monitor.overloaded
    assert monitor.busy == pytest.approx(0.8, abs=0.001)


def test_a_saturated_worker_is_overloaded_within_a_few_seconds_not_at_once() -> None:
    monitor = CpuMonitor(BUSY)
    run_busy(monitor, 0.5, 5)
    run_busy(monitor, 1.0, 0.5)  # half a second at full speed: a burst, not overload
    assert not monitor.overloaded
    run_busy(monitor, 1.0, 3)
    assert monitor.overloaded
    assert monitor.busy > BUSY


def test_cpu_hysteresis_recovers_only_well_below_the_threshold() -> None:
    monitor = CpuMonitor(BUSY)
    run_busy(monitor, 1.0, 10)
    assert monitor.overloaded
    run_busy(monitor, 0.9, 10)  # under the threshold, not under it by a tenth
    assert monitor.overloaded
    run_busy(monitor, 0.7, 5)
    assert not monitor.overloaded
    run_busy(monitor, 0.9, 10)  # and back between the two: still accepting
    assert not monitor.overloaded


def test_more_than_one_core_counts_as_one_and_empty_samples_are_skipped() -> None:
    monitor = CpuMonitor(BUSY)
    run_busy(monitor, 1.6, 10)  # a helper thread on another core: the loop's core is what counts
    assert monitor.busy == pytest.approx(1.0, abs=0.001)
    monitor.record(0.01, 0.0)
    assert monitor.busy == pytest.approx(1.0, abs=0.001)
    assert REGISTRY.get_sample_value("proxy_worker_cpu_busy_ratio") == pytest.approx(monitor.busy)


def test_a_threshold_outside_one_core_is_refused() -> None:
    for bad in (0, -0.5, 1.5):
        with pytest.raises(ValueError):
            CpuMonitor(bad)


async def test_the_sampler_reads_the_process_cpu_clock() -> None:
    # every sample: 50 ms of wall time, 50 ms of CPU time: a saturated worker; the short window
    # weighs each sample as the default one weighs 50 ms ones (with the default window, samples
    # taken every 1 ms need thousands of them, seconds of real sleeps, to cross the threshold)
    monitor = CpuMonitor(
        BUSY, interval=0.001, window=0.001 / TICK, clock=SteppingClock(TICK), cpu_clock=SteppingClock(TICK)
    )
    await sample_until_overloaded(monitor)
    assert monitor.busy > BUSY


# -- admission --------------------------------------------------------------------------------------


def test_nothing_configured_admits_everything() -> None:
    admission = Admission()
    assert admission.refusal(10_000) is None


def test_loop_lag_refuses_whatever_the_count() -> None:
    monitor = LagMonitor(LAG)
    admission = Admission(monitor, max_active_turns=100)
    feed(monitor, 1.0, 10)
    assert admission.refusal(0) == "loop_lag"
    feed(monitor, 0.0, 30)
    assert admission.refusal(0) is None


def test_a_busy_cpu_refuses_first() -> None:
    cpu, lag = CpuMonitor(BUSY), LagMonitor(LAG)
    admission = Admission(lag, cpu=cpu)
    run_busy(cpu, 1.0, 10)
    feed(lag, 1.0, 10)
    assert admission.refusal(0) == "cpu_busy"
    run_busy(cpu, 0.2, 10)
    assert admission.refusal(0) == "loop_lag"  # a worker starved of CPU by its neighbours


def test_the_cap_refuses_at_the_limit_and_admits_below(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="proxy.turns.admission")
    admission = Admission(max_active_turns=3)
    assert admission.refusal(2) is None
    assert admission.refusal(3) == "max_active_turns"
    assert admission.refusal(4) == "max_active_turns"
    assert admission.refusal(2) is None
    messages = [r.getMessage() for r in caplog.records if r.name == "proxy.turns.admission"]
    assert len(messages) == 2  # once when refusing starts, once when it ends; not per request


def test_a_cap_of_zero_is_no_cap() -> None:
    assert Admission(max_active_turns=0).refusal(10_000) is None


def settings(**env: str) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[call-arg]


def test_settings_defaults_and_off_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    default = Admission.from_settings(settings())
    assert default.lag is not None and default.lag.threshold == LAG
    assert default.cpu is None  # on request only
    assert default.max_active_turns is None

    monkeypatch.setenv("PROXY_MAX_LOOP_LAG", "0")
    monkeypatch.setenv("PROXY_MAX_CPU_BUSY", "0")
    monkeypatch.setenv("PROXY_MAX_ACTIVE_TURNS", "0")
    off = Admission.from_settings(settings())
    assert off.lag is None and off.cpu is None and off.max_active_turns is None

    monkeypatch.setenv("PROXY_MAX_LOOP_LAG", "")
    monkeypatch.setenv("PROXY_MAX_CPU_BUSY", "")
    monkeypatch.setenv("PROXY_MAX_ACTIVE_TURNS", "")
    blank = Admission.from_settings(settings())
    assert blank.lag is None and blank.cpu is None and blank.max_active_turns is None

    monkeypatch.setenv("PROXY_MAX_LOOP_LAG", "0.25")
    monkeypatch.setenv("PROXY_MAX_CPU_BUSY", "0.8")
    monkeypatch.setenv("PROXY_MAX_ACTIVE_TURNS", "40")
    tuned = Admission.from_settings(settings())
    assert tuned.lag is not None and tuned.lag.threshold == 0.25
    assert tuned.cpu is not None and tuned.cpu.threshold == 0.8
    assert tuned.max_active_turns == 40

    for name, bad in (("PROXY_MAX_LOOP_LAG", "-1"), ("PROXY_MAX_CPU_BUSY", "1.5")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ValueError):
            settings()
        monkeypatch.delenv(name)


class CountingMonitor(LagMonitor):
    """A monitor that counts its samples and notes when its sampler stopped."""

    def __init__(self) -> None:
        super().__init__(LAG, interval=0.001)
        self.samples = 0
        self.stopped = False

    def record(self, sample: float) -> None:
        self.samples += 1
        super().record(sample)

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            self.stopped = True


async def test_watching_runs_the_monitor_while_the_app_serves() -> None:
    monitor = CountingMonitor()
    async with Admission(monitor).watching() as admission:
        assert admission.lag is monitor

        async def sampling() -> bool:
            return monitor.samples >= 3

        await eventually(sampling)
        assert not monitor.stopped
    assert monitor.stopped

    async with Admission().watching() as nothing:  # no monitor: nothing to run
        assert nothing.lag is None


# -- the turn manager's gate ------------------------------------------------------------------------


async def manager(admission: Admission, body: Any) -> None:
    async with anyio.create_task_group() as group:
        await body(TurnManager(group, None, admission=admission))  # type: ignore[arg-type]


async def test_admitted_turns_hold_their_place_until_started_or_failed() -> None:
    async def body(turns: TurnManager) -> None:
        before = refused("max_active_turns")
        with turns.admit(), turns.admit():
            with pytest.raises(TurnRefused) as exc, turns.admit():
                pass
            assert exc.value.reason == "max_active_turns"
            assert exc.value.retry_after == RETRY_AFTER
        with turns.admit():  # both places were given back
            pass
        with pytest.raises(RuntimeError), turns.admit():
            raise RuntimeError("the request failed")
        with turns.admit(), turns.admit():  # a failed request gives its place back too
            pass
        assert refused("max_active_turns") == before + 1

    await manager(Admission(max_active_turns=2), body)


async def test_young_collections_wait_while_many_turns_are_starting() -> None:
    outside = gc.get_threshold()
    serving = (20000, *outside[1:])

    async def body(turns: TurnManager) -> None:
        with ExitStack() as starting:
            for _ in range(STARTING - 1):
                starting.enter_context(turns.admit())
            assert gc.get_threshold() == serving  # a few at once: as usual
            starting.enter_context(turns.admit())
            assert gc.get_threshold() == (DEFERRED_THRESHOLD, *outside[1:])
            with pytest.raises(RuntimeError), turns.admit():
                raise RuntimeError("a request failed")
            with turns.admit():
                assert gc.get_threshold()[0] == DEFERRED_THRESHOLD
        assert gc.get_threshold() == serving  # none starting: put back, the collection due runs now

    gc.set_threshold(*serving)
    try:
        await manager(Admission(), body)
    finally:
        gc.set_threshold(*outside)


async def test_shutting_down_refuses_before_anything_else() -> None:
    async def body(turns: TurnManager) -> None:
        before = refused("shutting_down")
        turns.accepting = False
        with pytest.raises(TurnRefused) as exc, turns.admit():
            pass
        assert exc.value.reason == "shutting_down"
        assert refused("shutting_down") == before + 1

    await manager(Admission(), body)


def test_refusals_become_503_with_retry_after() -> None:
    overloaded = refused_error(TurnRefused("loop_lag"))
    assert overloaded.status_code == 503 and overloaded.code == "overloaded"
    assert overloaded.headers == {"Retry-After": str(RETRY_AFTER)}
    assert overloaded.extra == {"reason": "loop_lag", "retry_after": RETRY_AFTER}
    assert refused_error(TurnRefused("max_active_turns")).code == "overloaded"
    shutting_down = refused_error(TurnRefused("shutting_down"))
    assert shutting_down.status_code == 503 and shutting_down.code == "shutting_down"
    assert shutting_down.headers == {"Retry-After": str(RETRY_AFTER)}


def test_thresholds_set_by_someone_else_while_turns_start_are_left_as_set() -> None:
    """A shutdown puts the app's thresholds back while turns may still be starting: the last of
    them to leave does not put the ones it kept over the shutdown's."""
    from proxy.turns.young_gc import StartingTurns

    outside = gc.get_threshold()
    try:
        gc.set_threshold(20_000, *outside[1:])
        starting = StartingTurns()
        for _ in range(STARTING):
            starting.enter()
        assert gc.get_threshold()[0] == DEFERRED_THRESHOLD
        gc.set_threshold(700, *outside[1:])  # the shutdown's restore
        for _ in range(STARTING):
            starting.leave()
        assert gc.get_threshold()[0] == 700
    finally:
        gc.set_threshold(*outside)
