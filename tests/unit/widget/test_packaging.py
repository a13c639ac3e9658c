"""A built wheel carries the widget's sources, so an installed proxy serves /widget.js without a checkout."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from proxy.widget.bundle import SCRIPTS, WIDGET_DIR

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def wheel(project_wheel: Path) -> Path:
    return project_wheel  # built once per run (tests/support/wheel.py)


def test_wheel_holds_every_widget_source(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = [p.relative_to(WIDGET_DIR).as_posix() for p in WIDGET_DIR.rglob("*") if p.is_file()]
    assert {f"src/{name}" for name in SCRIPTS} <= set(sources)
    missing = [s for s in sources if f"proxy/widget/assets/{s}" not in names]
    assert missing == []


def test_wheel_holds_the_console_page(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    static = ROOT / "proxy" / "console" / "static"
    missing = [p.name for p in static.iterdir() if f"proxy/console/static/{p.name}" not in names]
    assert missing == [] and "proxy/store/migrations/0500_console.sql" in names
