"""Running a conformance module against a deliberately broken hand-in, and reading which tests failed."""

from __future__ import annotations

import copy
import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedefis.core import kube, paths, timeouts
from kubedefis.core.errors import KubedefisError

Obj = dict[str, Any]
# pytester gives each run a temporary HOME: point the inner runs at the real build cache (and so
# at the running cluster's kubeconfig) instead of a cold, empty one. Read before any test runs.
REAL_CACHE = str(paths.cache_root())


def short_nodeid(nodeid: str) -> str:
    """`.../conformance/test_defi5.py::test_x[/api/cars-api]` -> `test_defi5.py::test_x[/api/cars-api]`: a
    report's test, named whatever folder the suite ran from (a parameter may hold slashes)."""
    module, _, test = nodeid.partition("::")
    return f"{Path(module).name}::{test}"


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
    os.environ["KUBEDEFIS_CACHE"] = REAL_CACHE
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


def broken_values(tmp_path: Path, preset: str, override: Obj) -> Path:
    """A values file: the défi's preset and local.yaml, then `override` breaking one requirement."""
    from kubedefis.core.helm import load_values, merge_values

    presets = paths.REPO_ROOT / "chart" / "values"
    files = ([presets / f"{preset}.yaml"] if preset else []) + [presets / "local.yaml"]
    merged = merge_values(load_values(files), override)
    target = tmp_path / f"{preset or 'default'}-broken.yaml"
    target.write_text(yaml.safe_dump(merged, sort_keys=False))
    return target


def broken_chart(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of our chart with one template edit (a group's typical slip); returns the chart's path."""
    chart = tmp_path / "chart"
    shutil.copytree(paths.REPO_ROOT / "chart", chart)
    template = chart / file
    text = template.read_text()
    assert old in text, f"{file} no longer contains {old!r}: update the variant"
    template.write_text(text.replace(old, new))
    return chart


def failed(results: dict[str, str]) -> set[str]:
    """Test names (parameters stripped) that failed, or errored in a fixture that checks a requirement."""
    return {name.split("[", 1)[0] for name, outcome in results.items() if outcome in ("failed", "error")}


def not_passed(results: dict[str, str]) -> set[str]:
    """Test names that did not pass (failed, errored or skipped)."""
    return {name.split("[", 1)[0] for name, outcome in results.items() if outcome != "passed"}


def install_group_chart(
    cluster: Any, chart: Path, release: str, namespace: str, values: dict[str, Any], job: str
) -> None:
    """A group's chart installed as its authors would (`helm install`), then its migration Job done."""
    try:
        cluster.helm().upgrade_install(chart, release, namespace, values, timeout=timeouts.HELM)
    except KubedefisError as exc:  # helm only says "context deadline exceeded": show why
        pytest.fail(f"{exc}\n{kube.evidence(cluster.kube, namespace)}")
    kube.wait_job(cluster.kube, namespace, job, timeouts.JOB, f"the migration Job of {release} in {namespace}")
