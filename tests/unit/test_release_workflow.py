"""`kubedefis release` (défi 19) promotes only a version staging actually ran and passed.

The cluster is faked: the workflow's steps that reach it (install, the suite, helm test) are
replaced, and staging's pods are what a fake API lists.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import kubedefis.core.helm as helm_module
from kubedefis.core.errors import CommandError
from kubedefis.core.helm import Helm, failed_test_pods
from kubedefis.core.shell import Status
from kubedefis.stack.release import ReleasePlan, ReleaseReport, ReleaseWorkflow

TAG = "0123abcd-v2"


def pod(*images: str, init: tuple[str, ...] = ()) -> Any:
    containers = [SimpleNamespace(image=i) for i in images]
    inits = [SimpleNamespace(image=i) for i in init]
    return SimpleNamespace(spec=SimpleNamespace(containers=containers, init_containers=inits or None))


class FakeCore:
    def __init__(self, pods: dict[str, list[Any]]) -> None:
        self.pods = pods

    def list_namespaced_pod(self, namespace: str) -> Any:
        return SimpleNamespace(items=self.pods.get(namespace, []))


class Workflow(ReleaseWorkflow):
    """The workflow with its cluster steps recorded instead of run."""

    def __init__(self, staging_pods: list[Any], suite_ok: bool = True) -> None:
        plan = ReleasePlan(
            chart=Path("chart"),
            values={"ingress": {"host": "django.example.org"}},
            image_tag=TAG,
            staging="kd-staging",
            production="kd",
            release_name="kd",
            kubeconfig="/nonexistent/kubeconfig",
            context=None,
            suite=("test_defi19.py",),
        )
        client: Any = SimpleNamespace(core=FakeCore({"kd-staging": staging_pods}))
        super().__init__(plan, client, helm=None, kubectl=["kubectl"], status=Status())  # type: ignore[arg-type]
        self.suite_ok = suite_ok
        self.calls: list[str] = []

    def install(self, namespace: str, values: dict[str, Any]) -> None:
        self.calls.append(f"install {namespace}")

    def label_restricted(self, namespace: str) -> None:
        pass

    def conformance(self) -> tuple[bool, str]:
        self.calls.append("conformance")
        return self.suite_ok, "1 failed" if not self.suite_ok else "passed"

    def helm_test(self) -> tuple[bool, str]:
        self.calls.append("helm test")
        return True, ""

    def delete_staging(self) -> None:
        self.calls.append("delete staging")


def test_a_chart_that_ignores_the_tag_is_stopped_before_anything_is_tested() -> None:
    workflow = Workflow([pod("kubedefis/site:0123abcd", init=("kubedefis/site:0123abcd",))])

    report = workflow.run()

    assert [(name, ok) for name, ok, _ in report.steps] == [
        ("staging install", True),
        ("staging runs the new version", False),
    ]
    assert workflow.calls == ["install kd-staging", "delete staging"]
    assert not report.promoted and not report.staging_ran(TAG)
    assert f"no staging pod runs {TAG}" in report.text()
    assert "staging ran: kubedefis/site:0123abcd" in report.text()


def test_a_version_staging_ran_and_passed_is_promoted() -> None:
    workflow = Workflow([pod(f"kubedefis/site:{TAG}"), pod("kubedefis/postgres:1")])

    report = workflow.run()

    assert report.promoted and report.staging_ran(TAG)
    assert workflow.calls == ["install kd-staging", "conformance", "helm test", "install kd", "delete staging"]


def test_a_version_that_fails_on_staging_is_stopped_and_recorded() -> None:
    workflow = Workflow([pod(f"kubedefis/site:{TAG}")], suite_ok=False)

    report = workflow.run()

    assert not report.promoted and report.staging_ran(TAG)
    assert report.steps[-1][:2] == ("conformance on staging", False)
    assert "install kd" not in workflow.calls


def test_staging_ran_reads_the_tag_whatever_the_registry_or_digest() -> None:
    assert ReleaseReport(staging_images={f"registry.local:5000/kubedefis/site:{TAG}@sha256:ab"}).staging_ran(TAG)
    assert not ReleaseReport(staging_images={"kubedefis/site:0123abcd-v2-rc"}).staging_ran(TAG)
    assert not ReleaseReport(staging_images={"registry.local:5000/site"}).staging_ran(TAG)
    assert not ReleaseReport(staging_images={"kubedefis/site:0123abcd-broken"}).staging_ran("broken")


def test_helm_test_failures_name_the_failed_pods_and_show_their_logs() -> None:
    output = "NAME: kd\nPhase: Failed\nError: 1 error occurred:\n\t* pod kd-test-http failed\n\n"
    assert failed_test_pods(output) == ["kd-test-http"]
    assert failed_test_pods("Phase: Succeeded\n") == []

    class FailingHelm:
        def test(self, release: str, namespace: str, timeout: float = 300) -> str:
            raise CommandError(["helm", "test", release], 1, output)

    logs = {("kd-test-http", "kd-staging"): "expected /api/stats to count cars, found 0"}
    workflow = ReleaseWorkflow.__new__(ReleaseWorkflow)
    plan = Workflow([]).plan
    core = SimpleNamespace(read_namespaced_pod_log=lambda pod, ns, tail_lines: logs[(pod, ns)])
    workflow.plan, workflow.helm, workflow.client = plan, FailingHelm(), SimpleNamespace(core=core)  # type: ignore[assignment]

    ok, detail = workflow.helm_test()

    assert not ok
    assert "--- kd-test-http:\nexpected /api/stats to count cars, found 0" in detail


def test_helm_test_is_run_without_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    # `--logs` fails on a passing run: the chart's hook-succeeded policy deleted the pods it reads.
    seen: list[list[str]] = []

    def run(command: list[str], **_: Any) -> Any:
        seen.append(command)
        return SimpleNamespace(stdout="Phase: Succeeded")

    monkeypatch.setattr(helm_module, "run", run)
    helm = Helm.__new__(Helm)
    helm.executable, helm.kubeconfig, helm.context = Path("helm"), None, None  # type: ignore[assignment]

    assert helm.test("kd", "kd-staging", timeout=150) == "Phase: Succeeded"
    assert seen == [["helm", "test", "kd", "-n", "kd-staging", "--timeout=150s"]]


def test_staging_is_deleted_even_when_its_pods_cannot_be_listed() -> None:
    workflow = Workflow([])

    def api_away(namespace: str) -> Any:
        raise ConnectionError("API server away")

    workflow.client.core.list_namespaced_pod = api_away
    with pytest.raises(ConnectionError):
        workflow.run()
    assert workflow.calls[-1] == "delete staging"
