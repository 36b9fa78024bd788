"""Which requirements a variant's run failed, read from the run's JUnit report (one `requirement` property a test).

A variant declares what it breaks with `@pytest.mark.breaks("D8.1")` (or `pytest.param(...,
marks=pytest.mark.breaks(...))`); `declared(request)` reads it back and `failed_requirements`
says what the run failed, so a variant asserts `failed_requirements(...) == declared(request)`:
the requirements it breaks fail, and no other.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from variants import REAL_CACHE, broken_chart, outcomes

from kubedefis.core import paths

FAILED, PASSED, SKIPPED = "failed", "passed", "skipped"


def states(report: Path) -> dict[str, str]:
    """Requirement id -> failed (a test failed or errored), passed (all passed), skipped (otherwise)."""
    found: dict[str, list[str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = next((k for k in ("failure", "error", "skipped") if k in kinds), PASSED)
        for prop in case.iter("property"):
            if prop.get("name") == "requirement":
                found.setdefault(prop.get("value", ""), []).append(outcome)
    return {
        rid: FAILED if {"failure", "error"} & set(outs) else PASSED if all(o == PASSED for o in outs) else SKIPPED
        for rid, outs in found.items()
    }


def run(pytester: pytest.Pytester, module: str, *args: str) -> dict[str, str]:
    """Run conformance/<module> (variants.outcomes) and return each requirement's state."""
    results = outcomes(pytester, module, *args)
    report = pytester.path / "report.xml"
    found = states(report)
    assert found, f"the run of {module} reported no requirement: {results}"
    return found


def run_static(pytester: pytest.Pytester, module: str, *args: str) -> dict[str, str]:
    """The static tier of conformance/<module> in this process (seconds, no cluster); each requirement's state."""
    report = pytester.path / f"static-{module}.xml"
    os.environ["KUBEDEFIS_CACHE"] = REAL_CACHE  # pytester's HOME is empty: helm and kubeconform are in the cache
    pytester.runpytest_inprocess(
        str(paths.REPO_ROOT / "conformance" / module), "-m", "static", f"--junitxml={report}", "-p", "no:cacheprovider",
        *args,
    )  # fmt: skip
    found = states(report)
    assert found, f"the static tier of {module} reported no requirement"
    return found


def failed_requirements(found: dict[str, str]) -> set[str]:
    return {rid for rid, state in found.items() if state == FAILED}


def declared(request: pytest.FixtureRequest) -> set[str]:
    """The ids of the variant's `breaks` marker."""
    marker = request.node.get_closest_marker("breaks")
    assert marker is not None and marker.args, f"{request.node.nodeid} declares no `breaks(...)`"
    return set(marker.args)


def caught(request: pytest.FixtureRequest, pytester: pytest.Pytester, module: str, *args: str) -> None:
    """Run conformance/<module> on the broken stack: exactly the ids the variant declares (`breaks`) fail."""
    found = run(pytester, module, *args)
    assert failed_requirements(found) == declared(request), found


def edited_chart(tmp: Path, edits: list[tuple[str, str, str]], extra: dict[str, str] | None = None) -> Path:
    """A copy of our chart with several template edits (file, old, new) and extra templates (name -> text)."""
    chart = broken_chart(tmp, *edits[0]) if edits else broken_chart(tmp, "Chart.yaml", "name:", "name:")
    for file, old, new in edits[1:]:
        template = chart / file
        text = template.read_text()
        assert old in text, f"{file} no longer contains {old!r}: update the variant"
        template.write_text(text.replace(old, new))
    for name, text in (extra or {}).items():
        add_template(chart, name, text)
    return chart


def add_template(chart: Path, name: str, text: str) -> Path:
    """A template added to a chart copy (variants.broken_chart made it); returns the chart."""
    (chart / "templates" / name).write_text(text)
    return chart
