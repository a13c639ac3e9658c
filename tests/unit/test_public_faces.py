"""Each package of ``proxy`` names its public face in ``__all__``, and other packages (and the
benchmarks) import only from that face: a module listed there, or a name the package re-exports.

When this fails, either import the thing from a module the package makes public, or, if it is meant
to be used from outside, add its module to the package's ``__all__``.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(path.parent.name for path in (ROOT / "proxy").glob("*/__init__.py"))


def _imports(tree: ast.AST) -> list[tuple[list[str], list[str]]]:
    """(dotted module, names taken from it) for every absolute import in ``tree``."""
    found: list[tuple[list[str], list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split("."), [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((alias.name.split("."), []) for alias in node.names)
    return found


def _cross_package_imports() -> list[tuple[str, str, str]]:
    """(importing file, package, module or name it takes from that package), outside the package."""
    found: list[tuple[str, str, str]] = []
    for path in [*(ROOT / "proxy").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]:
        relative = path.relative_to(ROOT)
        if any(part.startswith(".") for part in relative.parts):
            continue  # a local virtualenv or cache (bench/.work), not our code
        own = relative.parts[1] if relative.parts[0] == "proxy" and len(relative.parts) > 2 else None
        for dotted, names in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if dotted[0] != "proxy" or len(dotted) < 2 or dotted[1] not in PACKAGES or dotted[1] == own:
                continue
            taken = [dotted[2]] if len(dotted) > 2 else names
            found.extend((str(relative), dotted[1], name) for name in taken)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_declares_a_public_face_that_exists(package: str) -> None:
    module = importlib.import_module(f"proxy.{package}")
    face = getattr(module, "__all__", None)
    assert face, f"proxy/{package}/__init__.py has no __all__"
    for name in face:
        assert hasattr(module, name) or (ROOT / "proxy" / package / f"{name}.py").is_file(), f"{package}: {name}"


def test_other_packages_import_only_the_public_face() -> None:
    faces = {package: set(importlib.import_module(f"proxy.{package}").__all__) for package in PACKAGES}
    outside = [
        f"{where} uses proxy.{package}.{name}"
        for where, package, name in _cross_package_imports()
        if name not in faces[package]
    ]
    assert outside == []
