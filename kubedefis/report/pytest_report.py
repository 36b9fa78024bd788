"""pytest plugin: `--report-dir DIR` writes DIR/report.json, DIR/report.html (and DIR/junit.xml).

Load it with `-p kubedefis.report.pytest_report` (or from a conftest's
pytest_plugins). It records every test's requirement (from the
`requirement(id, text)` marker), outcome, skip reason, duration, failure
message, RequirementFailed findings and Kubernetes evidence. The JUnit XML is
pytest's own: the suite plugin's user_properties become its <property> tags.
"""

from __future__ import annotations

import datetime
import json
import platform
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

import kubedefis
from kubedefis.core.errors import KubedefisError
from kubedefis.harness import target as target_mod
from kubedefis.harness.checks import RequirementFailed
from kubedefis.harness.permissions import PRECHECK
from kubedefis.report import html, model
from kubedefis.report.model import FindingRecord, TestRecord

EVIDENCE_SECTION = "kubernetes evidence"  # the section kubedefis.harness.plugin adds to failed reports
SUITE_PLUGIN = "kubedefis.harness.plugin"
MAX_TEXT = 20000  # per evidence or traceback: a report stays small enough to open


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kubedefis-report", "kubedefis grading reports")
    group.addoption(
        "--report-dir",
        metavar="DIR",
        help="write the conformance matrix to DIR/report.json and DIR/report.html (and DIR/junit.xml)",
    )


# tryfirst: pytest's junitxml plugin reads --junitxml in its own pytest_configure, after ours.
@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(SUITE_PLUGIN):
        config.addinivalue_line("markers", "requirement(id, text): the défi requirement a test checks")
    report_dir = config.getoption("report_dir")
    if not report_dir or hasattr(config, "workerinput"):
        return
    collector = ReportCollector(config, Path(report_dir))
    config.stash[COLLECTOR] = collector
    config.pluginmanager.register(collector, "kubedefis-report-collector")
    if not config.option.xmlpath:
        config.option.xmlpath = str(Path(report_dir) / "junit.xml")


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else "…(start cut)…\n" + text[-MAX_TEXT:]


def _skip_reason(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return str(report.wasxfail)
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr or "")


def new_record(item: pytest.Item) -> TestRecord:
    marker = item.get_closest_marker("requirement")
    args = marker.args if marker else ()
    path = str(item.path)
    return TestRecord(
        nodeid=item.nodeid,
        module=item.nodeid.split("::", 1)[0],
        defi=model.defi_of(path),
        requirement=str(args[0]) if args else None,
        requirement_text=str(args[1]) if len(args) > 1 else "",
    )


def record_from_report(report: pytest.TestReport) -> TestRecord:
    """A test known only from its report: run by a pytest-xdist worker (the controller collects nothing).

    The requirement comes from the user properties the suite's plugin set at collection.
    """
    props = dict(report.user_properties)
    nodeid = report.nodeid
    if nodeid.rfind("@") > nodeid.rfind("]"):  # `--dist loadgroup` suffixes the lane: not part of the test's name
        nodeid = nodeid[: nodeid.rfind("@")]
    module = nodeid.split("::", 1)[0]
    return TestRecord(
        nodeid=nodeid,
        module=module,
        defi=model.defi_of(module),
        requirement=str(props["requirement"]) if "requirement" in props else None,
        requirement_text=str(props.get("requirement_text", "")),
    )


class ReportCollector:
    """Collects one TestRecord per test, and what it learns of the target, then writes the reports."""

    def __init__(self, config: pytest.Config, report_dir: Path) -> None:
        self.config = config
        self.report_dir = report_dir
        self.records: dict[str, TestRecord] = {}
        self.started = datetime.datetime.now(datetime.UTC)
        self.cluster: dict[str, Any] = {}
        self.namespaces: set[str] = set()
        self.collection_errors: list[dict[str, str]] = []
        self.interrupted = ""

    # --- what runs ------------------------------------------------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # every selected test gets a row now, so a session that stops early still shows what it missed
        for item in session.items:
            self.records.setdefault(item.nodeid, new_record(item))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            text = _clip(report.longreprtext)
            self.collection_errors.append({"nodeid": report.nodeid, "message": text})
            record = TestRecord(report.nodeid, report.nodeid, model.defi_of(report.nodeid), None)
            record.outcome, record.skip_reason = model.ERROR, ""
            record.message = f"the module could not be collected: {text.strip().splitlines()[-1] if text else ''}"
            record.traceback = text
            self.records[report.nodeid] = record

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        record = self.records.setdefault(item.nodeid, new_record(item))
        if report.failed and call.excinfo is not None and not record.message:
            exc = call.excinfo.value
            if isinstance(exc, RequirementFailed):
                record.findings = [FindingRecord(f.where, f.expected, f.found) for f in exc.findings]
            text = str(exc).strip()
            record.message = text if text else call.excinfo.exconly()
        if call.when == "call":
            self._observe_fixtures(item)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = self.records.get(report.nodeid)
        if record is None:
            if not hasattr(report, "node"):  # not from a pytest-xdist worker: a test we did not select
                return
            record = self.records[report.nodeid] = record_from_report(report)
        record.duration += report.duration
        record.not_given = any(name == model.NOT_GIVEN for name, _ in report.user_properties)
        xfail = hasattr(report, "wasxfail")
        if report.when == "setup":
            if report.failed:
                record.outcome, record.skip_reason = model.ERROR, ""
            elif report.skipped:
                record.outcome = model.XFAILED if xfail else model.SKIPPED
                record.skip_reason = _skip_reason(report)
            else:
                record.outcome, record.skip_reason = model.PASSED, ""
        elif report.when == "call":
            if report.passed:
                record.outcome = model.XPASSED if xfail else model.PASSED
            elif report.failed:
                record.outcome = model.FAILED
            else:
                record.outcome = model.XFAILED if xfail else model.SKIPPED
                record.skip_reason = _skip_reason(report)
        elif report.failed and record.outcome in (model.PASSED, model.XPASSED, model.SKIPPED):
            record.outcome = model.ERROR  # teardown failed
        if report.failed:
            record.traceback = _clip(record.traceback + report.longreprtext)
            if not record.message:  # from a worker: no exception object here, its last line says it
                lines = [line for line in report.longreprtext.strip().splitlines() if line.startswith("E ")]
                record.message = "\n".join(line[2:].strip() for line in lines)[-2000:] or report.head_line or ""
        for name, content in report.sections:
            if name == EVIDENCE_SECTION and content not in record.evidence:
                record.evidence = _clip(record.evidence + content)
        for name, value in report.user_properties:
            if name == "evidence" and not record.evidence:
                record.evidence = _clip(str(value))

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        value = excinfo.value
        self.interrupted = str(getattr(value, "msg", "") or value) or excinfo.typename

    def _observe_fixtures(self, item: pytest.Item) -> None:
        # Only what the tests asked for: a static run must not connect to a cluster for the header.
        funcargs: dict[str, Any] = getattr(item, "funcargs", {})
        namespace = funcargs.get("namespace")
        if isinstance(namespace, str):
            self.namespaces.add(namespace)
        handle = funcargs.get("cluster")
        if handle is not None and not self.cluster and getattr(handle, "kube", None) is not None:
            self.cluster = cluster_facts(handle.kube)

    # --- what it writes ---------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        report = model.build(list(self.records.values()), self.header(int(exitstatus)))
        self.report_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.report_dir / "report.json", report)
        (self.report_dir / "report.html").write_text(html.render(report), encoding="utf-8")

    def header(self, exitstatus: int) -> dict[str, Any]:
        opt = self.config.getoption
        target_file = opt("--target", None)
        declared = _target_file_fields(target_file)
        return {
            "date": self.started.isoformat(timespec="seconds"),
            "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "target": {
                "target_file": target_file,
                "kubeconfig": self.cluster.get("kubeconfig") or opt("--kubeconfig", None) or declared.get("kubeconfig"),
                "context": self.cluster.get("context") or opt("--context", None) or declared.get("context"),
                "api_server": self.cluster.get("api_server"),
                "namespace": opt("--namespace", None) or declared.get("namespace"),
                "namespaces_used": sorted(self.namespaces),
                "group": declared.get("group"),
                "commit": declared.get("commit"),
                "chart_version": declared.get("chart_version"),
            },
            "versions": {
                "kubedefis": kubedefis.__version__,
                "kubernetes": self.cluster.get("server_version"),
                "python": platform.python_version(),
                "pytest": pytest.__version__,
            },
            "permissions": _permissions(self.config),
            "pytest_exit_status": exitstatus,
            "interrupted": self.interrupted,
            "collection_errors": self.collection_errors,
            "junit_xml": self.config.option.xmlpath,
        }


COLLECTOR = pytest.StashKey[ReportCollector]()


def _target_file_fields(path: str | None) -> dict[str, Any]:
    """What the target file says of the cluster, for the header; the suite reports its mistakes itself."""
    if not path:
        return {}
    try:
        target = target_mod.load(Path(path))
    except KubedefisError:
        return {}
    return {
        "kubeconfig": target.kubeconfig,
        "context": target.context,
        "namespace": target.namespace,
        "group": target.group,
        "commit": target.commit,
        "chart_version": target.chart_version,
    }


def _permissions(config: pytest.Config) -> dict[str, Any] | None:
    """The session-start rights check (kubedefis.harness.plugin), None when no cluster was asked."""
    precheck = config.stash.get(PRECHECK, None)
    return precheck.as_dict() if precheck is not None else None


def collector_of(config: pytest.Config) -> ReportCollector | None:
    return config.stash.get(COLLECTOR, None)


def cluster_facts(kube: Any) -> dict[str, Any]:
    """Where the cluster is and which Kubernetes it runs; a failure to ask is noted, not raised."""
    from kubernetes import client

    facts: dict[str, Any] = {
        "kubeconfig": getattr(kube, "kubeconfig", None),
        "context": getattr(kube, "context", None),
        "api_server": kube.api_client.configuration.host,
    }
    try:
        facts["server_version"] = client.VersionApi(kube.api_client).get_code(_request_timeout=5).git_version
    except Exception as exc:
        facts["server_version"] = f"unknown ({type(exc).__name__})"
    return facts


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
