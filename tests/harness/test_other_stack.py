"""Grading a stack that is not ours, through its target file.

tests/harness/otherchart is shaped as a student group would write it: one template file, its own
names and labels (app=garage-web, tier=backend|frontend, Deployment garage-db), two Ingress
objects, one image for both Django apps. It is installed with helm into a fresh namespace, then
the défi 5, 10 and 11 modules grade it as a teacher would (`--target otherchart/target.yaml`,
deployed: true, and the chart rendered as the défi 5 hand-in for the static tier). The report
must say exactly what the chart meets and what it misses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from variants import install_group_chart, outcomes, short_nodeid

from kubedefis.core import paths
from kubedefis.core.shell import Status
from kubedefis.stack import images

LANE = "light"  # a light stage: beside the others (see harness.plugin.lane_of)
OTHERCHART = Path(__file__).parent / "otherchart"
TARGET = OTHERCHART / "target.yaml"
RELEASE = "garage"
MODULES = ("test_defi5.py", "test_defi10.py", "test_defi11.py")

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
# Each test of the three modules, and what the chart makes of it.
EXPECTED_TESTS = {
    # the same, read in the chart rendered as the défi 5 hand-in (static tier)
    "test_defi5.py::test_handin_api_and_public_use_two_images": FAILED,
    "test_defi5.py::test_handin_three_replicas_with_resources[api]": PASSED,
    "test_defi5.py::test_handin_three_replicas_with_resources[public]": FAILED,
    "test_defi5.py::test_handin_database_pod_with_same_resources": PASSED,
    "test_defi5.py::test_handin_ingress_routes_by_path[/api/cars-api]": PASSED,
    "test_defi5.py::test_handin_ingress_routes_by_path[/-public]": PASSED,
    "test_defi5.py::test_handin_ingress_routes_by_path[/voitures/-public]": PASSED,
    # one image (kubedefis/site) for both apps, the app chosen by DJANGO_COMPONENT
    "test_defi5.py::test_api_and_public_use_two_images": FAILED,
    "test_defi5.py::test_three_ready_replicas_with_resources[api]": PASSED,
    # garage-front: 2 replicas, and requests without limits
    "test_defi5.py::test_three_ready_replicas_with_resources[public]": FAILED,
    "test_defi5.py::test_database_pod_with_same_resources": PASSED,
    # two Ingress objects on one host: /api -> garage-api, / -> garage-front
    "test_defi5.py::test_ingress_routes_by_path[/api/cars-api]": PASSED,
    "test_defi5.py::test_ingress_routes_by_path[/-public]": PASSED,
    "test_defi5.py::test_ingress_routes_by_path[/voitures/-public]": PASSED,
    # no probe anywhere, in the chart (static) or on the cluster (live)
    "test_defi10.py::test_rendered_containers_have_fitting_probes": FAILED,
    "test_defi10.py::test_live_containers_have_fitting_probes": FAILED,
    # freezes a pod: a deployed target is not disturbed without --allow-disruption
    "test_defi10.py::test_every_hung_container_is_restarted": SKIPPED,
    # no NetworkPolicy: the chart admits nobody in particular, and every pod reaches PostgreSQL
    "test_defi11.py::test_rendered_policy_admits_only_api_and_public": FAILED,
    "test_defi11.py::test_site_pods_reach_the_database[api]": PASSED,
    "test_defi11.py::test_site_pods_reach_the_database[public]": PASSED,
    "test_defi11.py::test_other_pods_are_blocked": FAILED,
    "test_defi11.py::test_site_still_reads_the_database": PASSED,
}
EXPECTED_REQUIREMENTS = {
    "D5.1": FAILED,
    "D5.2": FAILED,
    "D5.3": PASSED,
    "D5.4": PASSED,
    "D10.1": FAILED,
    "D10.2": SKIPPED,
    "D11.1": FAILED,
    "D11.2": PASSED,
    "D11.3": FAILED,
    "D11.4": PASSED,
}


@pytest.fixture(scope="module")
def garage(cluster, namespace):
    """The chart installed as its authors would (`helm install`), its migration Job done; the Ingress host."""
    images.publish_stack(
        Status(), cluster.local_spec, tag=images.HANDIN_TAG
    )  # kubedefis/site and kubedefis/postgres under the tag the chart names
    host = f"garage.{namespace}.localhost"
    install_group_chart(cluster, OTHERCHART, RELEASE, namespace, {"host": host}, "garage-migrate-1")
    return host


def _report(pytester, tmp_path, suite, modules, *args) -> dict:
    report_dir = tmp_path / "report"
    extra = [str(paths.REPO_ROOT / "conformance" / m) for m in modules[1:]]  # after modules[0], in one session
    extra += [*args, "--report-dir", str(report_dir)]
    if suite.cluster_name:
        extra += ["--cluster-name", suite.cluster_name]
    outcomes(pytester, modules[0], *extra)
    return json.loads((report_dir / "report.json").read_text())


def _handin(cluster, host: str, folder: Path) -> Path:
    """The défi 5 hand-in as the group would give it: their chart rendered, one file per object."""
    (folder / "defi5").mkdir(parents=True)
    for i, obj in enumerate(cluster.helm().template(OTHERCHART, RELEASE, {"host": host})):
        name = f"{i:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        (folder / "defi5" / name).write_text(yaml.safe_dump(obj, sort_keys=False))
    return folder


def test_the_report_says_what_the_other_stack_meets_and_misses(suite, cluster, namespace, garage, pytester, tmp_path):
    handin = _handin(cluster, garage, tmp_path / "handin")
    args = ("--target", str(TARGET), "--namespace", namespace, "--handin", str(handin))
    report = _report(pytester, tmp_path, suite, MODULES, *args)
    tests = {short_nodeid(t["nodeid"]): t for t in report["tests"]}
    found = {nodeid: t["outcome"] for nodeid, t in tests.items()}
    requirements = {cell["id"]: cell["status"] for defi in report["defis"] for cell in defi["requirements"]}
    details = {n: (t["outcome"], t["message"][:300] or t["skip_reason"]) for n, t in tests.items()}
    assert found == EXPECTED_TESTS, details
    assert requirements == EXPECTED_REQUIREMENTS, details
    # a skip says why, and it is the rule for deployed targets, not a missing right
    assert "allow-disruption" in tests["test_defi10.py::test_every_hung_container_is_restarted"]["skip_reason"]
    # the failures are the chart's, found through the target's names and labels
    assert "share an image" in tests["test_defi5.py::test_api_and_public_use_two_images"]["message"]
    assert (
        "expected 3 ready pods, found 2"
        in tests["test_defi5.py::test_three_ready_replicas_with_resources[public]"]["message"]
    )
    assert report["header"]["target"]["namespace"] == namespace
    assert report["header"]["permissions"]["denied"] == [], report["header"]["permissions"]


# A grader's credentials as on the course cluster: rights in the namespace only, and neither
# pods/exec nor pod deletion (so no network probe pods, which the suite must delete).
RESTRICTED_ROLE = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: grader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: grader}
rules:
  - apiGroups: ["", apps, batch, discovery.k8s.io, networking.k8s.io, autoscaling]
    resources: [pods, pods/log, events, services, endpointslices, deployments, statefulsets, jobs,
                persistentvolumeclaims, networkpolicies, horizontalpodautoscalers, ingresses, configmaps, secrets]
    verbs: [get, list, watch]
  - apiGroups: [""]
    resources: [pods, pods/portforward]
    verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: grader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: grader}
subjects: [{kind: ServiceAccount, name: grader}]
"""


def _restricted_target(cluster, namespace, folder: Path) -> Path:
    """The target file, with a kubeconfig holding the grader ServiceAccount's token."""
    cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=RESTRICTED_ROLE)
    token = cluster.kubectl_run("-n", namespace, "create", "token", "grader", "--duration", "1h").strip()
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "grading", "cluster": admin["clusters"][0]["cluster"]}],
        "users": [{"name": "grader", "user": {"token": token}}],
        "contexts": [{"name": "grader", "context": {"cluster": "grading", "user": "grader", "namespace": namespace}}],
        "current-context": "grader",
    }
    (folder / "grader.kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    target = yaml.safe_load(TARGET.read_text())
    target.update(
        kubeconfig="grader.kubeconfig",
        namespace=namespace,
        chart=str(OTHERCHART),
        values=[str(OTHERCHART / "values.yaml")],
        ingress_http_port=cluster.http_port,
        ingress_https_port=cluster.https_port,
    )
    path = folder / "restricted.yaml"
    path.write_text(yaml.safe_dump(target))
    return path


def test_rights_the_credentials_lack_skip_the_checks_that_need_them(
    suite, cluster, namespace, garage, pytester, tmp_path
):
    target = _restricted_target(cluster, namespace, tmp_path)
    report = _report(pytester, tmp_path, suite, ("test_defi11.py",), "--target", str(target))
    tests = {short_nodeid(t["nodeid"]): t for t in report["tests"]}
    found = {nodeid: (t["outcome"], t["skip_reason"]) for nodeid, t in tests.items()}
    cannot = f"credentials cannot delete pods in {namespace}"
    assert found == {
        "test_defi11.py::test_rendered_policy_admits_only_api_and_public": (FAILED, ""),
        "test_defi11.py::test_site_pods_reach_the_database[api]": (SKIPPED, cannot),
        "test_defi11.py::test_site_pods_reach_the_database[public]": (SKIPPED, cannot),
        "test_defi11.py::test_other_pods_are_blocked": (SKIPPED, cannot),
        "test_defi11.py::test_site_still_reads_the_database": (PASSED, ""),
    }, {n: t["message"][:300] for n, t in tests.items()}
    rights = report["header"]["permissions"]
    # What the Role withholds is reported as denied, what it grants is not (the suite asks more
    # rights than these: every one its checks declare).
    withheld = {f"{right} in {namespace}" for right in ("delete pods", "create pods/exec", "get services/proxy")}
    granted_rights = ("list pods", "get pods/log", "create pods", "list networkpolicies")
    granted = {f"{right} in {namespace}" for right in granted_rights}
    assert withheld <= set(rights["denied"]) and not granted & set(rights["denied"]), rights
    assert not rights["unknown"], rights
