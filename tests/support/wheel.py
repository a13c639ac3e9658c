"""The project's wheel, built once per test run the way a release builds it.

``pip wheel --no-deps`` (pip fetches the build backend from PyPI when it is not cached) from a copy
of the sources as a checkout has them (``proxy/widget/assets`` is a link to ``widget/``), so a
stale ``build/`` in the checkout cannot hide or add a file, and the checkout is not written to.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_wheel(work: Path) -> Path:
    source, out = work / "src", work / "dist"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("proxy", "widget"):
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=skip)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--wheel-dir", str(out), str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = out.glob("assistant_proxy-*.whl")
    return wheel
