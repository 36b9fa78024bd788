"""The "garagiste" group's défi 13 graded live: their chart installed with its replication subchart on.

tests/harness/test_student_stack.py grades their défi 13 on the chart alone (the static tier); here
the chart is installed as its authors would (`helm install -f values-replication.yaml`): StatefulSet
garagiste-bdd-maitre (1 pod) and garagiste-bdd-esclave (1 pod, `esclaves: 1`), which the image sets up
itself (POSTGRES_ROLE=replica: pg_basebackup from garagiste-bdd-ecriture, then streaming), the site
writing through garagiste-bdd-ecriture and reading through garagiste-bdd-lecture. Then
conformance/test_defi12.py and test_defi13.py grade it through target-replication.yaml, without
--allow-disruption and without their hand-in folder: the live tier of a Master/Slave structure of
their names, labels, port (5433) and replica count, which are none of ours.
"""

from __future__ import annotations

import json

import pytest
import yaml
from variants import install_group_chart, outcomes, short_nodeid

from kubedefis.core import kube, paths, timeouts
from kubedefis.core.shell import Status
from kubedefis.core.waits import Check, wait_for
from kubedefis.stack import images

STUDENTSTACK = paths.REPO_ROOT / "tests" / "harness" / "studentstack"
TARGET = STUDENTSTACK / "target-replication.yaml"
RELEASE = "projet"
SETS = ("garagiste-bdd-maitre", "garagiste-bdd-esclave")
DEPLOYMENTS = ("garagiste-backend", "garagiste-frontend")

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
# Every requirement of défis 12 and 13, and why their stack gets that verdict.
EXPECTED = {
    # défi 12 graded as it runs, no hand-in folder given (its static tier skips): one primary pod and
    # the one replica declared, Ready, each on its own claim
    "D12.1": PASSED,
    # garagiste-bdd-ecriture's ready endpoints are the primary's pod, garagiste-bdd-lecture's the replica
    "D12.2": PASSED,
    # the probes are judged in the hand-in's manifests only, not given here
    "D12.3": SKIPPED,
    # the replica streams, a row reaches it within 2 s, it refuses writes
    "D12.4": PASSED,
    "D12.5": PASSED,
    "D12.6": PASSED,
    # deleting a replica's pod and claim is disruptive
    "D12.7": SKIPPED,
    # both StatefulSets come from garagiste/charts/bdd-replication/templates/
    "D13.1": PASSED,
    # one primary pod, and the one replica garagiste-bdd-esclave declares, Ready, each on its claim
    "D13.2": PASSED,
    # garagiste-bdd-ecriture selects role=maitre only, garagiste-bdd-lecture role=esclave only
    "D13.3": PASSED,
    # the replica's readiness is the primary's pg_isready: it fails statically (stopping the primary
    # to watch the replicas turn unready is disruptive, skipped)
    "D13.4": FAILED,
    # DB_HOST = garagiste-bdd-ecriture, DB_HOST_LECTURE = garagiste-bdd-lecture (the static tier passes);
    # live, which pods use the primary is shown by a write through the site, and their target names
    # none (api_write: a write changes a group's data): skipped with that reason, so not passed
    "D13.5": SKIPPED,
    # their chart has no values/defi11.yaml: no earlier stage to render
    "D13.6": SKIPPED,
    # the replica streams (pg_stat_replication), a row reaches it within 2 s, it refuses writes
    "D13.7": PASSED,
    "D13.8": PASSED,
    "D13.9": PASSED,
    # deleting a replica's pod and claim, and a failover under a writer, are disruptive
    "D13.10": SKIPPED,
    "D13.11": SKIPPED,
}


def _rolled_out(cluster, namespace: str) -> None:
    """Until both database StatefulSets and both site Deployments are rolled out."""

    def ready() -> Check[None]:
        found = [kube.statefulset_ready(cluster.kube, namespace, name) for name in SETS]
        found += [kube.deployment_ready(cluster.kube, namespace, name) for name in DEPLOYMENTS]
        return Check(all(c.done for c in found), state="; ".join(c.state for c in found))

    wait_for(
        f"the garagiste primary, replica and site in {namespace}",
        ready,
        timeout=timeouts.REPLICA_REBUILD,
        evidence=lambda: kube.evidence(cluster.kube, namespace),
    )


@pytest.fixture(scope="module")
def replicated_garagiste(cluster, namespace):
    """Their chart installed with values.yaml and values-replication.yaml, as its README says."""
    images.publish_stack(Status(), cluster.local_spec, tag=images.HANDIN_TAG)
    host = f"django.garagiste-{namespace}.localhost"
    values = yaml.safe_load((STUDENTSTACK / "values-replication.yaml").read_text())
    install_group_chart(cluster, STUDENTSTACK, RELEASE, namespace, {"host": host, **values}, "garagiste-migrate-1")
    _rolled_out(cluster, namespace)
    return host


def test_the_live_tier_grades_their_master_slave_structure(suite, cluster, namespace, replicated_garagiste, pytester):
    report_dir = pytester.path / "report"
    args = [str(paths.REPO_ROOT / "conformance" / "test_defi12.py")]
    args += ["--target", str(TARGET), "--namespace", namespace, "--report-dir", str(report_dir)]
    if suite.cluster_name:
        args += ["--cluster-name", suite.cluster_name]
    results = outcomes(pytester, "test_defi13.py", *args)
    report = json.loads((report_dir / "report.json").read_text())
    tests = {short_nodeid(t["nodeid"]): t for t in report["tests"]}
    details = {n: (t["outcome"], t["message"][:400] or t["skip_reason"]) for n, t in tests.items()}
    requirements = {cell["id"]: cell["status"] for defi in report["defis"] for cell in defi["requirements"]}
    assert requirements == EXPECTED, "\n".join(f"{n}: {d}" for n, d in details.items() if d[0] != PASSED)
    assert "error" not in results.values(), details
    # D13.4 fails for the replica's probes alone; the live tests that ran all passed
    failed = {n for n, t in tests.items() if t["outcome"] == FAILED}
    assert failed == {"test_defi13.py::test_rendered_probes"}, details
    assert "garagiste-bdd-esclave" in tests["test_defi13.py::test_rendered_probes"]["message"], details
    for name in (
        "test_defi12.py::test_primary_and_replicas_ready_each_on_its_own_claim",
        "test_defi12.py::test_live_services_route_writes_and_reads",
        "test_defi13.py::test_primary_and_replicas_ready",
        "test_defi13.py::test_every_replica_streams",
        "test_defi13.py::test_rendered_site_settings",
    ):
        assert tests[name]["outcome"] == PASSED, details[name]
    assert "api_write" in tests["test_defi13.py::test_site_reads_from_replicas"]["skip_reason"], details
    for name, t in tests.items():
        if t["outcome"] == SKIPPED:
            assert t["skip_reason"], f"{name} skipped without a reason"
