"""Grading a second stack that is not ours, written as a student group would: every requirement's verdict.

tests/harness/studentstack is the "garagiste" group's chart: several template files, their own
names (garagiste-backend, garagiste-frontend, StatefulSet bdd, Services backend/frontend/bdd),
labels (app=garagiste, tier=backend|frontend|db), environment variables (DB_HOST, DB_PORT,
DB_NAME, DB_USER, DEBUG read by their settings), ports (Django on 8080 behind Services on 8000,
PostgreSQL on 5433), one Ingress, two HPAs (one autoscaling/v1, one v2) and secrets generated at
install. It is installed with helm into a fresh namespace and upgraded once as the group did for
défi 8 (the front's new tag, rolled out), then the défi 4, 5, 6, 7, 8, 9, 10, 11 and 19 modules
grade it as a teacher would (`--target studentstack/target.yaml`, deployed: true, and the chart
rendered as it was then, without autoscaling, as the défi 4-5 hand-ins). The report must give,
requirement by requirement, exactly the verdict the stack deserves: what it meets passes, what it
misses fails with what was expected and found, what grading a deployed stack may not do is skipped.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from requirements import run_static
from variants import install_group_chart, outcomes

from kubedefis.core import kube, paths, timeouts
from kubedefis.core.shell import Status
from kubedefis.core.waits import Check, wait_for
from kubedefis.stack import images

STUDENTSTACK = Path(__file__).parent / "studentstack"
TARGET = STUDENTSTACK / "target.yaml"
RELEASE = "projet"
MODULES = tuple(f"test_defi{n}.py" for n in (4, 5, 6, 7, 8, 9, 10, 11, 19))
DEPLOYMENTS = ("garagiste-backend", "garagiste-frontend")
NEW_FRONT = "kubedefis/public:0.2.0"  # défi 8: the front's new version, under its own tag
# The défi 4-5 hand-ins: the chart as it was then, its Deployments at 3 replicas (no HPA yet).
THEN = {"backend": {"autoscaling": {"enabled": False}}, "frontend": {"autoscaling": {"enabled": False}}}

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
# Every requirement of the nine défis, and why the stack gets that verdict.
EXPECTED_REQUIREMENTS = {
    # one Ingress, host django.<...>: `/` goes to Service frontend (the site, though the target
    # names no `site`), /api to Service backend; another host gets 404
    "D4.1": PASSED,
    "D4.2": PASSED,
    "D4.3": PASSED,
    # two images (kubedefis/api, kubedefis/public); the backend is limited to 256Mi, not 200Mi
    "D5.1": PASSED,
    "D5.2": FAILED,
    "D5.3": PASSED,
    # /api/cars reaches only backend pods, / and /voitures/ only frontend pods (30 answers each)
    "D5.4": PASSED,
    # a Helm release; DB_HOST, DB_PORT, DB_NAME, DB_USER from ConfigMap garagiste-env (the target
    # names them); the upgrade check never changes a group's release; lint and schema clean
    "D6.1": PASSED,
    "D6.2": PASSED,
    "D6.3": SKIPPED,
    "D6.4": PASSED,
    "D6.5": PASSED,
    # StatefulSet bdd of one replica; its claim asks 200Mi, not 0.1 Go; DB_HOST = bdd-0.bdd,
    # the pod's name under the headless Service bdd; deleting the pod is not done to a group
    "D7.1": PASSED,
    "D7.2": FAILED,
    "D7.3": PASSED,
    "D7.4": SKIPPED,
    # the front rolls out with maxUnavailable 0, a readiness probe and a preStop sleep of 5 s (the
    # kubelet's sleep action), but a grace period of 20 s, too short for 5 s + gunicorn's 20 s;
    # it was upgraded once (0.1.0 -> 0.2.0): two Deployment and Helm revisions; an upgrade or
    # rollback under load is not done to a group
    "D8.1": FAILED,
    "D8.2": SKIPPED,
    "D8.3": PASSED,
    "D8.4": SKIPPED,
    # HPA garagiste-backend (autoscaling/v1, as kubectl autoscale writes it): CPU 60 %, 3 to 10,
    # right; garagiste-frontend (v2): CPU 60 % but 3 to 5 pods; neither sets a scale-down window
    # (the course does not ask one); loading the site to scale it is disruptive
    "D9.1": FAILED,
    "D9.2": SKIPPED,
    # the frontend container has a readiness probe but no liveness probe; freezing is disruptive
    "D10.1": FAILED,
    "D10.2": SKIPPED,
    # NetworkPolicy bdd-acces: tier in (backend, frontend, migrate) on 5433, nobody else
    "D11.1": PASSED,
    "D11.2": PASSED,
    "D11.3": PASSED,
    "D11.4": PASSED,
    # DEBUG False from their ConfigMap (error pages without details, over HTTPS as production is
    # reached); no securityContext anywhere and the namespace admits privileged pods; no tls on the
    # Ingress, no redirect; SECRET_KEY and DB_PASSWORD generated into a Secret, nothing secret
    # elsewhere; the staging workflow is not run on a group's stack; the target names no write
    "D19.1": PASSED,
    "D19.2": FAILED,
    "D19.3": FAILED,
    "D19.4": PASSED,
    "D19.5": SKIPPED,
    "D19.6": SKIPPED,
}
# What each failure must say (expected / found), so that it fails for the stack's reason.
FAILURE_SAYS = {
    "test_defi5.py::test_three_ready_replicas_with_resources[api]": "limits.memory = 200Mi",
    "test_defi5.py::test_handin_three_replicas_with_resources[api]": "limits.memory = 200Mi",
    "test_defi7.py::test_database_volume_is_a_bound_100mi_claim": "expected 100Mi",
    "test_defi7.py::test_rendered_database_claims_100mi": "expected 100Mi",
    "test_defi10.py::test_rendered_containers_have_fitting_probes": "container django",
    "test_defi10.py::test_live_containers_have_fitting_probes": "container django",
    "test_defi8.py::test_rendered_rolling_update_settings": (
        "Deployment/garagiste-frontend: expected terminationGracePeriodSeconds > 5 + 20, found 20"
    ),
    "test_defi9.py::test_rendered_autoscalers": (
        "HorizontalPodAutoscaler/garagiste-frontend: expected 3 to 10 replicas, found 3 to 5"
    ),
    "test_defi9.py::test_live_autoscalers_read_metrics": (
        "HorizontalPodAutoscaler/garagiste-frontend: expected 3 to 10 replicas, found 3 to 5"
    ),
    "test_defi19.py::test_rendered_restricted_pods": "expected runAsNonRoot",
    "test_defi19.py::test_namespace_enforces_restricted": "found it was admitted",
    "test_defi19.py::test_restricted_namespace_runs_everything": "expected runAsNonRoot",
    "test_defi19.py::test_rendered_https": "expected a tls section on each",
}


def _scaled_and_rolled_out(cluster, namespace: str) -> None:
    """Until both Deployments are rolled out at the 3 replicas their HPAs set (the chart sets none)."""

    def ready() -> Check[None]:
        checks = [kube.deployment_ready(cluster.kube, namespace, name) for name in DEPLOYMENTS]
        done = all(c.done and c.value.spec.replicas == 3 for c in checks)
        return Check(done, state="; ".join(c.state for c in checks))

    wait_for(
        f"the garagiste Deployments at 3 replicas in {namespace}",
        ready,
        timeout=timeouts.ROLLOUT,
        evidence=lambda: kube.evidence(cluster.kube, namespace),
    )


@pytest.fixture(scope="module")
def garagiste(cluster, namespace):
    """The chart installed as its authors would (`helm install`), then upgraded to the front's new tag
    (défi 8), each migration Job done, both Deployments at the HPAs' 3 replicas; the Ingress host."""
    images.publish_stack(Status(), cluster.local_spec, tag=images.HANDIN_TAG)  # kubedefis/api|public|postgres:0.1.0
    name, tag = NEW_FRONT.split("/")[1].split(":")
    images.publish([images.site_image(name)], tag, Status(), cluster.local_spec)
    host = f"django.garagiste-{namespace}.localhost"
    install_group_chart(cluster, STUDENTSTACK, RELEASE, namespace, {"host": host}, "garagiste-migrate-1")
    _scaled_and_rolled_out(cluster, namespace)
    upgrade = {"host": host, "images": {"frontend": NEW_FRONT}}
    install_group_chart(cluster, STUDENTSTACK, RELEASE, namespace, upgrade, "garagiste-migrate-2")
    _scaled_and_rolled_out(cluster, namespace)
    return host


def _handin(cluster, host: str, folder: Path) -> Path:
    """The défi 4 and 5 hand-ins as the group would give them: their chart rendered, one file per object."""
    objects = cluster.helm().template(STUDENTSTACK, RELEASE, {"host": host, **THEN})
    for defi in ("defi4", "defi5"):
        (folder / defi).mkdir(parents=True)
        for i, obj in enumerate(objects):
            name = f"{i:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
            (folder / defi / name).write_text(yaml.safe_dump(obj, sort_keys=False))
    return folder


def _short(nodeid: str) -> str:
    module, _, test = nodeid.partition("::")
    return f"{Path(module).name}::{test}"


def test_the_report_gives_each_requirement_the_verdict_the_stack_deserves(
    suite, cluster, namespace, garagiste, pytester, tmp_path
):
    handin = _handin(cluster, garagiste, tmp_path / "handin")
    report_dir = tmp_path / "report"
    args = [str(paths.REPO_ROOT / "conformance" / m) for m in MODULES[1:]]
    args += [
        "--target",
        str(TARGET),
        "--namespace",
        namespace,
        "--handin",
        str(handin),
        "--report-dir",
        str(report_dir),
    ]
    if suite.cluster_name:
        args += ["--cluster-name", suite.cluster_name]
    outcomes(pytester, MODULES[0], *args)
    report = json.loads((report_dir / "report.json").read_text())
    tests = {_short(t["nodeid"]): t for t in report["tests"]}
    details = {n: (t["outcome"], t["message"][:400] or t["skip_reason"]) for n, t in tests.items()}
    requirements = {cell["id"]: cell["status"] for defi in report["defis"] for cell in defi["requirements"]}
    assert requirements == EXPECTED_REQUIREMENTS, details
    # no harness exception: every test ended passed, failed on an assertion, or skipped with a reason
    assert not [n for n, t in tests.items() if t["outcome"] == "error"], details
    for nodeid, says in FAILURE_SAYS.items():
        assert tests[nodeid]["outcome"] == FAILED and says in tests[nodeid]["message"], details[nodeid]
    failed = {n for n, t in tests.items() if t["outcome"] == FAILED}
    # the D5.2 failure is the backend's alone, the D10.1 and D9.1 ones the frontend's
    assert "test_defi5.py::test_three_ready_replicas_with_resources[public]" not in failed, details
    for nodeid in (
        "test_defi10.py::test_live_containers_have_fitting_probes",
        "test_defi9.py::test_rendered_autoscalers",
        "test_defi9.py::test_live_autoscalers_read_metrics",
    ):
        assert "garagiste-frontend" in tests[nodeid]["message"], details[nodeid]
        assert "garagiste-backend" not in tests[nodeid]["message"], details[nodeid]
    # the kubelet's preStop sleep action counts as the sleep: the grace period alone fails D8.1
    assert "expected a preStop" not in tests["test_defi8.py::test_rendered_rolling_update_settings"]["message"]
    for nodeid, t in tests.items():
        if t["outcome"] == SKIPPED:
            assert t["skip_reason"], f"{nodeid} skipped without a reason"
    assert report["header"]["target"]["namespace"] == namespace


# The static tier of the added défis on the chart alone (seconds, no cluster): the rendered chart's
# verdicts, the same as in the report above, for the same reasons.
STATIC = {
    "test_defi8.py": {"D8.1": FAILED},
    "test_defi9.py": {"D9.1": FAILED},
    "test_defi19.py": {"D19.1": PASSED, "D19.2": FAILED, "D19.3": FAILED, "D19.4": PASSED},
}


@pytest.mark.parametrize("module", sorted(STATIC))
def test_the_static_tier_gives_the_rendered_chart_its_verdicts(module, pytester):
    found = run_static(pytester, module, "--target", str(TARGET), "--namespace", "u-garagiste")
    assert found == STATIC[module], found
    report = ET.parse(pytester.path / f"static-{module}.xml").getroot()
    messages = {
        f"{module}::{case.get('name')}": failure.get("message", "")
        for case in report.iter("testcase")
        for failure in case.iter("failure")
    }
    for nodeid, says in FAILURE_SAYS.items():
        if nodeid in messages:
            assert says in messages[nodeid], messages[nodeid]
    if module == "test_defi9.py":  # the right HPA is autoscaling/v1, with no scale-down window: not found wrong
        assert "garagiste-backend" not in messages[f"{module}::test_rendered_autoscalers"]
    if module == "test_defi8.py":  # the kubelet's preStop sleep action is read: only the grace period is short
        assert "expected a preStop" not in messages[f"{module}::test_rendered_rolling_update_settings"]
