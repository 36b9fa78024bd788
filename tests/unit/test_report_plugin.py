"""The report plugin, run on small example suites in a child pytest session (pytester)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

PLUGINS = ("-p", "kubedefis.harness.plugin", "-p", "kubedefis.report.pytest_report")

DEFI2 = """
import pytest
from kubedefis.harness.checks import Finding, RequirementFailed

@pytest.mark.requirement("D2.1", "the Deployment asks for 3 replicas")
def test_static_replicas():
    pass

@pytest.mark.requirement("D2.1", "3 replicas are running and ready")
def test_live_replicas():
    raise RequirementFailed("D2.1 replicas", [Finding("Deployment/csc8567", "3 replicas", "2")])

@pytest.mark.requirement("D2.2", "every container has requests and limits")
def test_static_resources():
    pass

@pytest.mark.requirement("D2.2", "every pod has requests and limits")
def test_live_resources():
    pytest.skip("needs a cluster")

@pytest.mark.requirement("D2.3", "a ClusterIP Service with 3 endpoints")
def test_service():
    assert 2 == 3, "expected 3 ready endpoints behind csc8567"

@pytest.mark.requirement("D2.10", "the page answers")
def test_page():
    pass

@pytest.mark.requirement("D2.9", "the page shows the time")
def test_time():
    pass
"""

DEFI1 = """
import pytest

@pytest.mark.requirement("D1.1", "a Deployment of the web image")
def test_deployment():
    pass

@pytest.mark.skip(reason="static run: no cluster")
@pytest.mark.requirement("D1.2", "a ready pod")
def test_pod():
    pass
"""

# Stands in for kubedefis.harness.plugin's evidence, which needs a live cluster.
EVIDENCE_CONFTEST = """
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        report.sections.append(("kubernetes evidence", "pods in kd-defi2:\\n  csc8567-7d9f Running <restarts=4>"))
"""


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, Path]:
    report_dir = pytester.path / "out"
    result = pytester.runpytest(*PLUGINS, "--report-dir", str(report_dir), *args)
    return result, report_dir


def _report(report_dir: Path) -> dict[str, Any]:
    return json.loads((report_dir / "report.json").read_text())


def _cells(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for d in report["defis"] for c in d["requirements"]}


def _tests(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["nodeid"].split("::")[-1]: t for t in report["tests"]}


@pytest.fixture
def example(pytester: pytest.Pytester) -> tuple[pytest.RunResult, Path]:
    pytester.makeconftest(EVIDENCE_CONFTEST)
    pytester.makepyfile(test_defi2=DEFI2, test_defi1=DEFI1)
    return _run(pytester, "--strict-markers")


def test_matrix_cells_combine_the_tests_of_a_requirement(example: tuple[pytest.RunResult, Path]) -> None:
    result, report_dir = example
    result.assert_outcomes(passed=5, failed=2, skipped=2)
    report = _report(report_dir)
    assert [d["defi"] for d in report["defis"]] == [1, 2]
    cells = _cells(report)
    assert cells["D2.1"]["status"] == "failed"  # static passed, live failed
    assert cells["D2.2"]["status"] == "skipped"  # static passed, live skipped
    assert cells["D2.3"]["status"] == "failed"
    assert cells["D2.10"]["status"] == "passed"
    assert cells["D1.1"]["status"] == "passed" and cells["D1.2"]["status"] == "skipped"
    assert cells["D2.1"]["texts"] == ["the Deployment asks for 3 replicas", "3 replicas are running and ready"]
    assert [c["id"] for c in report["defis"][1]["requirements"]] == ["D2.1", "D2.2", "D2.3", "D2.9", "D2.10"]
    assert report["totals"]["requirements"] == {"passed": 3, "failed": 2, "skipped": 2}
    assert report["defis"][1]["totals"] == {"passed": 2, "failed": 2, "skipped": 1}


def test_each_test_records_outcome_reason_findings_and_evidence(example: tuple[pytest.RunResult, Path]) -> None:
    _, report_dir = example
    tests = _tests(_report(report_dir))
    live = tests["test_live_replicas"]
    assert live["outcome"] == "failed" and live["defi"] == 2 and live["requirement"] == "D2.1"
    assert live["findings"] == [{"where": "Deployment/csc8567", "expected": "3 replicas", "found": "2"}]
    assert "csc8567-7d9f Running <restarts=4>" in live["evidence"]
    service = tests["test_service"]
    assert service["findings"] == [] and "expected 3 ready endpoints behind csc8567" in service["message"]
    assert tests["test_live_resources"]["skip_reason"] == "needs a cluster"
    assert tests["test_pod"]["outcome"] == "skipped" and tests["test_pod"]["skip_reason"] == "static run: no cluster"
    assert tests["test_static_replicas"]["outcome"] == "passed" and tests["test_static_replicas"]["evidence"] == ""
    assert all(t["duration"] >= 0 for t in tests.values())


def test_html_shows_expected_found_and_evidence(example: tuple[pytest.RunResult, Path]) -> None:
    _, report_dir = example
    page = (report_dir / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<td>3 replicas</td><td>2</td><td>Deployment/csc8567</td>" in page
    assert "expected 3 ready endpoints behind csc8567" in page
    evidence = page.index("<details><summary>Kubernetes evidence</summary>")
    assert page.index("csc8567-7d9f Running &lt;restarts=4&gt;") > evidence
    assert "Skipped: needs a cluster" in page
    assert "<link" not in page and "<script" not in page and "http://" not in page and "https://" not in page


def test_junit_xml_carries_the_requirement_properties(example: tuple[pytest.RunResult, Path]) -> None:
    _, report_dir = example
    root = ET.parse(report_dir / "junit.xml").getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["test_live_replicas"].iter("property")}
    assert props["requirement"] == "D2.1" and props["requirement_text"] == "3 replicas are running and ready"
    assert cases["test_live_replicas"].find("failure") is not None


def test_an_explicit_junitxml_is_kept(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_defi1=DEFI1)
    _, report_dir = _run(pytester, f"--junitxml={pytester.path / 'mine.xml'}")
    assert (pytester.path / "mine.xml").exists() and not (report_dir / "junit.xml").exists()
    assert _report(report_dir)["header"]["junit_xml"] == str(pytester.path / "mine.xml")


def test_the_plugin_alone_registers_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_defi1=DEFI1)
    report_dir = pytester.path / "out"
    result = pytester.runpytest("-p", "kubedefis.report.pytest_report", "--strict-markers", "--report-dir", report_dir)
    result.assert_outcomes(passed=1, skipped=1)
    assert _cells(_report(report_dir))["D1.1"]["status"] == "passed"


def test_without_report_dir_nothing_is_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_defi1=DEFI1)
    pytester.runpytest(*PLUGINS).assert_outcomes(passed=1, skipped=1)
    assert not list(pytester.path.rglob("report.json"))


def test_a_stopped_session_lists_what_did_not_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_defi3="""
import pytest

@pytest.mark.requirement("D3.1", "first")
def test_first():
    pass

@pytest.mark.requirement("D3.2", "second")
def test_second():
    pytest.exit("no cluster to test", returncode=4)

@pytest.mark.requirement("D3.3", "third")
def test_third():
    pass
"""
    )
    _, report_dir = _run(pytester)
    report = _report(report_dir)
    assert report["header"]["interrupted"] == "no cluster to test"
    assert report["header"]["pytest_exit_status"] == 4
    assert _cells(report)["D3.1"]["status"] == "passed"
    third = _tests(report)["test_third"]
    assert third["outcome"] == "skipped" and "not run" in third["skip_reason"]
    assert "The run stopped early" in (report_dir / "report.html").read_text()


def test_a_module_that_cannot_be_collected_fails_its_defi(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_defi4="import nothing_by_this_name\n", test_defi1=DEFI1)
    _, report_dir = _run(pytester)
    report = _report(report_dir)
    defi4 = next(d for d in report["defis"] if d["defi"] == 4)
    assert defi4["totals"]["failed"] == 1
    assert [e["nodeid"] for e in report["header"]["collection_errors"]] == ["test_defi4.py"]
    assert "nothing_by_this_name" in report["header"]["collection_errors"][0]["message"]


def test_errors_in_fixtures_and_tests_without_requirement(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_defi5="""
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("the namespace could not be made")

@pytest.mark.requirement("D5.1", "uses a broken fixture")
def test_needs_fixture(broken):
    pass

def test_unlabelled():
    pass
"""
    )
    _, report_dir = _run(pytester)
    report = _report(report_dir)
    tests = _tests(report)
    assert tests["test_needs_fixture"]["outcome"] == "error"
    assert "the namespace could not be made" in tests["test_needs_fixture"]["message"]
    cells = _cells(report)
    assert cells["D5.1"]["status"] == "failed"
    unlabelled = cells["test_defi5.py::test_unlabelled"]
    assert unlabelled["labelled"] is False and unlabelled["status"] == "passed"


def test_header_reads_the_cluster_only_when_a_test_used_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_defi2="""
import types
import pytest
from kubernetes import client

@pytest.fixture(scope="session")
def cluster():
    api = client.ApiClient(client.Configuration(host="http://127.0.0.1:9"))
    return types.SimpleNamespace(kube=types.SimpleNamespace(api_client=api, kubeconfig="/k/config", context="kind-x"))

@pytest.fixture
def namespace():
    return "u-42"

@pytest.mark.requirement("D2.1", "static")
def test_static():
    pass

@pytest.mark.requirement("D2.2", "live")
def test_live(cluster, namespace):
    pass
"""
    )
    _, report_dir = _run(pytester, "-k", "static")
    head = _report(report_dir)["header"]
    assert head["target"]["api_server"] is None and head["versions"]["kubernetes"] is None
    _, report_dir = _run(pytester)
    head = _report(report_dir)["header"]
    assert head["target"]["api_server"] == "http://127.0.0.1:9"
    assert head["target"]["context"] == "kind-x" and head["target"]["namespaces_used"] == ["u-42"]
    assert head["versions"]["kubernetes"].startswith("unknown (")  # nothing listens on port 9
    assert head["versions"]["kubedefis"]


def test_header_names_the_target_files_namespace(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_defi1=DEFI1)
    target = pytester.path / "u-7.yaml"
    target.write_text("namespace: u-7\ncontext: course\ndeployed: true\n")
    _, report_dir = _run(pytester, "--target", str(target))
    head = _report(report_dir)["header"]["target"]
    assert head["target_file"] == str(target)
    assert head["namespace"] == "u-7" and head["context"] == "course"


def test_the_same_matrix_when_pytest_xdist_runs_the_tests_in_lanes(pytester: pytest.Pytester) -> None:
    """The controller collects nothing under pytest-xdist: the tests are known from their workers' reports."""
    pytester.makeconftest(EVIDENCE_CONFTEST)
    pytester.makepyfile(test_defi2=DEFI2, test_defi1=DEFI1)
    report_dir = pytester.path / "out"
    result = pytester.runpytest_subprocess(
        *PLUGINS, "--report-dir", str(report_dir), "--strict-markers", "-n", "2", "--dist", "loadgroup"
    )
    result.assert_outcomes(passed=5, failed=2, skipped=2)
    report = _report(report_dir)
    cells = _cells(report)
    assert (cells["D2.1"]["status"], cells["D2.2"]["status"], cells["D2.10"]["status"]) == (
        "failed",
        "skipped",
        "passed",
    )
    assert cells["D2.1"]["texts"] == ["the Deployment asks for 3 replicas", "3 replicas are running and ready"]
    assert not any("@" in t["nodeid"] for t in report["tests"]), "the lane suffix is not part of a test's name"
    failed = [t for t in report["tests"] if t["outcome"] == "failed"]
    assert failed and all(t["message"] for t in failed), failed
