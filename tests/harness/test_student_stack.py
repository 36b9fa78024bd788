"""Grading a second stack that is not ours, written as a student group would: every requirement's verdict.

tests/harness/studentstack is the "garagiste" group's chart: several template files, their own
names (garagiste-backend, garagiste-frontend, StatefulSet bdd, Services backend/frontend/bdd),
labels (app=garagiste, tier=backend|frontend|db), environment variables (DB_HOST, DB_PORT,
DB_NAME, DB_USER read by their settings), ports (Django on 8080 behind Services on 8000,
PostgreSQL on 5433) and one Ingress. It is installed with helm into a fresh namespace, then the
défi 4, 5, 6, 7, 10 and 11 modules grade it as a teacher would (`--target studentstack/target.yaml`,
deployed: true, and the rendered chart as the défi 4-5 hand-ins). The report must give, requirement
by requirement, exactly the verdict the stack deserves: what it meets passes, what it misses
fails with what was expected and found, what grading a deployed stack may not do is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from variants import install_group_chart, outcomes

from kubedefis.core import paths
from kubedefis.core.shell import Status
from kubedefis.stack import images

STUDENTSTACK = Path(__file__).parent / "studentstack"
TARGET = STUDENTSTACK / "target.yaml"
RELEASE = "projet"
MODULES = ("test_defi4.py", "test_defi5.py", "test_defi6.py", "test_defi7.py", "test_defi10.py", "test_defi11.py")

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
# Every requirement of the six défis, and why the stack gets that verdict.
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
    # the frontend container has a readiness probe but no liveness probe; freezing is disruptive
    "D10.1": FAILED,
    "D10.2": SKIPPED,
    # NetworkPolicy bdd-acces: tier in (backend, frontend, migrate) on 5433, nobody else
    "D11.1": PASSED,
    "D11.2": PASSED,
    "D11.3": PASSED,
    "D11.4": PASSED,
}
# What each failure must say (expected / found), so that it fails for the stack's reason.
FAILURE_SAYS = {
    "test_defi5.py::test_three_ready_replicas_with_resources[api]": "limits.memory = 200Mi",
    "test_defi5.py::test_handin_three_replicas_with_resources[api]": "limits.memory = 200Mi",
    "test_defi7.py::test_database_volume_is_a_bound_100mi_claim": "expected 100Mi",
    "test_defi7.py::test_rendered_database_claims_100mi": "expected 100Mi",
    "test_defi10.py::test_rendered_containers_have_fitting_probes": "container django",
    "test_defi10.py::test_live_containers_have_fitting_probes": "container django",
}


@pytest.fixture(scope="module")
def garagiste(cluster, namespace):
    """The chart installed as its authors would (`helm install`), its migration Job done; the Ingress host."""
    images.publish_stack(Status(), cluster.local_spec, tag=images.HANDIN_TAG)  # kubedefis/api|public|postgres:0.1.0
    host = f"django.garagiste-{namespace}.localhost"
    install_group_chart(cluster, STUDENTSTACK, RELEASE, namespace, {"host": host}, "garagiste-migrate-1")
    return host


def _handin(cluster, host: str, folder: Path) -> Path:
    """The défi 4 and 5 hand-ins as the group would give them: their chart rendered, one file per object."""
    objects = cluster.helm().template(STUDENTSTACK, RELEASE, {"host": host})
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
    # the D5.2 failure is the backend's alone, the D10.1 one the frontend's
    assert "test_defi5.py::test_three_ready_replicas_with_resources[public]" not in failed, details
    assert "garagiste-frontend" in tests["test_defi10.py::test_live_containers_have_fitting_probes"]["message"]
    assert "garagiste-backend" not in tests["test_defi10.py::test_live_containers_have_fitting_probes"]["message"]
    for nodeid, t in tests.items():
        if t["outcome"] == SKIPPED:
            assert t["skip_reason"], f"{nodeid} skipped without a reason"
    assert report["header"]["target"]["namespace"] == namespace
