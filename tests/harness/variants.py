"""Running a conformance module against a deliberately broken hand-in, and reading which tests failed."""

from __future__ import annotations

import copy
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedefis import paths

Obj = dict[str, Any]


def broken_handin(tmp_path: Path, defi: str, mutate: Callable[[list[Obj]], None]) -> Path:
    """A copy of defis/<defi> whose objects went through `mutate`; returns the hand-in root."""
    source = paths.REPO_ROOT / "defis" / defi
    root = tmp_path / "handin"
    target = root / defi
    shutil.copytree(source, target)
    for file in sorted(target.glob("*.yaml")):
        docs = [copy.deepcopy(d) for d in yaml.safe_load_all(file.read_text()) if d]
        mutate(docs)
        file.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return root


def outcomes(pytester: pytest.Pytester, module: str, *args: str) -> dict[str, str]:
    """Run conformance/<module> in a subprocess; test name -> passed/failed/error/skipped."""
    report = pytester.path / "report.xml"
    pytester.runpytest_subprocess(
        str(paths.REPO_ROOT / "conformance" / module), f"--junitxml={report}", "-p", "no:cacheprovider", *args
    )
    results: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = next((k for k in ("failure", "error", "skipped") if k in kinds), "passed")
        results[case.get("name", "")] = {"failure": "failed"}.get(outcome, outcome)
    return results


def of_kind(docs: list[Obj], kind: str) -> list[Obj]:
    return [d for d in docs if d.get("kind") == kind]
