"""A conformance module (conformance/test_defiN.py) loaded by file for unit tests of its checks: the
modules are not a package, and each load is a fresh module object (no state shared between tests)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

CONFORMANCE = Path(__file__).resolve().parents[2] / "conformance"


def load(name: str, prefix: str = "unit") -> ModuleType:
    """conformance/<name>.py as a module named `<prefix>_<name>`."""
    spec = importlib.util.spec_from_file_location(f"{prefix}_{name}", CONFORMANCE / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
