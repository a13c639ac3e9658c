"""The app's collector settings: young collections made rarer while it serves, CPython's back after."""

from __future__ import annotations

import gc
from pathlib import Path

from litestar.testing import TestClient

from proxy.app import GC_YOUNG_THRESHOLD, create_app
from tests.support.apps import directory, make_settings, make_tenant
from tests.support.scripted_engine import Engines, scripted_tools

CPYTHON_DEFAULT = (700, 10, 10)


def test_young_collections_are_rarer_while_the_app_serves(pg_url: str, tmp_path: Path) -> None:
    # from CPython's own thresholds, whatever apps of earlier tests in this process left behind
    # (apps whose serving overlapped restore each other's)
    outside = gc.get_threshold()
    gc.set_threshold(*CPYTHON_DEFAULT)
    try:
        app = create_app(
            make_settings(pg_url, tmp_path),
            tenants=directory(make_tenant("collector", ["collector.test"])),
            tools=scripted_tools(),
            engine_factory=Engines().factory,
        )
        with TestClient(app, base_url="http://proxy.test"):
            assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *CPYTHON_DEFAULT[1:])
        assert gc.get_threshold() == CPYTHON_DEFAULT
    finally:
        gc.set_threshold(*outside)
