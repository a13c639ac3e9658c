"""The wheel carries the product and its data files, and no test double.

The wheel is built once per run the way a release builds it (``tests/support/wheel.py``).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_ONLY = ("server_thread", "stripe_fake")  # doubles that live in tests/support, never in the product


@pytest.fixture(scope="module")
def wheel_names(project_wheel: Path) -> set[str]:
    with zipfile.ZipFile(project_wheel) as archive:
        return set(archive.namelist())


def _source_files(pattern: str) -> set[str]:
    return {path.relative_to(ROOT).as_posix() for path in ROOT.glob(pattern) if path.is_file()}


def test_no_test_only_module_is_packaged(wheel_names: set[str]) -> None:
    assert [name for name in wheel_names if any(double in name for double in TEST_ONLY)] == []
    assert [name for name in wheel_names if name.startswith(("tests/", "bench/"))] == []


def test_every_product_module_and_data_file_is_packaged(wheel_names: set[str]) -> None:
    expected = {
        "migrations": _source_files("proxy/store/migrations/*.sql"),
        "widget assets": _source_files("proxy/widget/assets/**/*"),
        "console static": _source_files("proxy/console/static/*"),
        "modules": {name for name in _source_files("proxy/**/*.py") if "__pycache__" not in name},
    }
    for kind, files in expected.items():
        assert files, f"no {kind} found in the sources"
        assert files - wheel_names == set(), f"{kind} missing from the wheel"
    assert "proxy/py.typed" in wheel_names
