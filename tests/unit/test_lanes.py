"""The suite's lanes (tox.ini's ci runs one pytest-xdist worker per lane): every module has one of them."""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from kubedefis.core import paths
from kubedefis.harness.plugin import lane_of

LANES = {"course", "load", "small", "light"}
CI_IGNORED = {"test_defi21.py", "test_defi22.py"}  # their own tox envs


def _module(path: Path) -> SimpleNamespace:
    """The module's top-level constants (LANE, SIZE, PRESET), read without importing it."""
    constants = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for name in node.targets:
                if isinstance(name, ast.Name) and name.id in {"LANE", "SIZE", "PRESET"}:
                    constants[name.id] = node.value.value
    return SimpleNamespace(**constants)


def _ci_modules() -> list[Path]:
    found = sorted((paths.REPO_ROOT / "conformance").glob("test_defi*.py"))
    return [p for p in found if p.name not in CI_IGNORED] + [paths.REPO_ROOT / "tests/harness/test_other_stack.py"]


@pytest.mark.parametrize("path", _ci_modules(), ids=lambda p: p.stem)
def test_every_ci_module_is_in_a_known_lane(path):
    assert lane_of(_module(path)) in LANES


def test_course_size_stages_share_the_course_lane():
    # two course-size stages side by side do not fit on the 2-CPU node: they must queue in one lane
    for path in _ci_modules():
        module = _module(path)
        if getattr(module, "SIZE", "course") == "course" and (getattr(module, "PRESET", None) is not None):
            assert lane_of(module) == "course", path.name


def test_ci_runs_one_worker_per_lane():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(paths.REPO_ROOT / "tox.ini")
    workers = re.search(r"-n (\d+) --dist loadgroup", tox["testenv:ci"]["commands"])
    assert workers and int(workers.group(1)) == len({lane_of(_module(p)) for p in _ci_modules()}) == len(LANES)
