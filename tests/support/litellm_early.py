"""LiteLLM's proxy for ``tests/integration/e2e_engines/test_litellm.py``, started in the background
when a run that needs it reaches its first integration test (``tests/conftest.py``), so that
LiteLLM's start (it loads for tens of seconds, on the core the test run leaves free) overlaps the
tests before it.

The simulator it forwards to starts with it; both stop when the run ends.
"""

from __future__ import annotations

import concurrent.futures
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench.targets import WORK, start_litellm
from proxy.simulator import SimulatorServer

MODULE = "tests/integration/e2e_engines/test_litellm.py"


def wanted(nodeids: list[str]) -> bool:
    return any(nodeid.startswith(MODULE) for nodeid in nodeids)


@dataclass
class EarlyLiteLLM:
    simulator: SimulatorServer
    folder: Path
    future: concurrent.futures.Future[tuple[Any, str]]
    _pool: concurrent.futures.ThreadPoolExecutor = field(repr=False)

    def result(self) -> tuple[Any, str]:
        """LiteLLM's service and master key once it answers; what its start raised, if it failed."""
        return self.future.result()

    def stop(self) -> None:
        try:
            service, _ = self.future.result()
            service.stop()
        except Exception:
            pass
        self._pool.shutdown()
        self.simulator.__exit__(None, None, None)
        shutil.rmtree(self.folder, ignore_errors=True)


EARLY = pytest.StashKey[EarlyLiteLLM]()  # in the run's config, when the run needs LiteLLM


def start_early() -> EarlyLiteLLM:
    simulator = SimulatorServer()
    simulator.__enter__()
    folder = Path(tempfile.mkdtemp(prefix="proxy-test-litellm-"))

    def start() -> tuple[Any, str]:
        WORK.mkdir(parents=True, exist_ok=True)
        return start_litellm(folder, SimpleNamespace(url=simulator.root_url))  # type: ignore[arg-type]

    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="litellm-start")
    return EarlyLiteLLM(simulator, folder, pool.submit(start), pool)
