"""Défi 12 — Connexions robustes: PostgreSQL as a primary and streaming replicas, from plain manifests.

The course says no chart change is needed: the hand-in (defis/defi12/) is applied with kubectl.
Requirements, one id each: a primary and replicas, each on its own volume (D12.1); a Service for
writes that reaches the primary only and one for reads that reaches the replicas only (D12.2);
replicas ready only when they replicate (D12.3); every replica streams from the primary (D12.4);
a committed row is readable on each replica within 2 s (D12.5); replicas refuse writes (D12.6); a
replica that lost its volume is rebuilt from the primary and streams again (D12.7). Pods are
found through the target's selectors, replicas recognised on the primary by their pod IPs, and
the Services judged by the endpoints they have.
"""

from __future__ import annotations

import pytest

from kubedefis.core import kube, manifests, timeouts
from kubedefis.core.shell import Status
from kubedefis.harness import checks, discover
from kubedefis.harness import stage as stack
from kubedefis.stack import database as pg
from kubedefis.stack import images
from kubedefis.stack.database import Replicated

LANE = "small"  # three light database pods, no load: it balances the lanes' lengths (see harness.plugin.lane_of)
PRIMARY, REPLICA = "database", "database-replica"


@pytest.fixture(scope="module")
def handin_objects(handin):
    return manifests.load([handin / "defi12"])


@pytest.fixture(scope="module")
def replicated(request, suite, cluster, namespace):
    # A group's deployed primary and replicas are graded as they run, hand-in folder given or not (the
    # hand-in's skip must not take the live tier with it); the suite's own stage applies the hand-in.
    if not suite.target.deployed:
        handin = request.getfixturevalue("handin")
        images.publish_stack(Status(), cluster.local_spec, tag=images.HANDIN_TAG)
        stack.apply_handin(cluster, namespace, handin / "defi12")
    primary = stack.wait_component(cluster, namespace, suite.target.component(PRIMARY), timeouts.DATABASE_READY)
    replicas = stack.wait_component(cluster, namespace, suite.target.component(REPLICA), timeouts.REPLICA_REBUILD)
    return Replicated(cluster, namespace, primary.selector, replicas.selector, port=suite.target.database_port)


def _statefulsets(objects, suite) -> dict[str, dict]:
    """The primary's and the replicas' StatefulSet, found through the target's components.

    Each must be exactly one StatefulSet: a selector matching several (a bare `app=postgres` for the
    primary selects the replicas too) is a finding naming what was expected and found, as in défi 13,
    never the first of them.
    """
    findings = []
    found = {}
    for key in (PRIMARY, REPLICA):
        findings += discover.component_findings(objects, suite.target, key, ("StatefulSet",))
        sets = discover.workloads(objects, suite.target, key, ("StatefulSet",))
        if len(sets) == 1:
            found[key] = sets[0]
    checks.require("the primary and replica StatefulSets of the hand-in", findings)
    return found


def service_endpoint_findings(cluster, namespace, replicated) -> list[checks.Finding]:
    """A Service whose ready endpoints are exactly the primary's pod, and one whose are exactly the replicas'."""
    primary = {p.metadata.name for p in replicated.pods(replicated.primary_selector)}
    replicas = {p.metadata.name for p in replicated.replica_pods()}
    behind = {
        svc.metadata.name: {
            pod for pod, ready in discover.endpoint_pods(cluster.kube, namespace, svc.metadata.name).items() if ready
        }
        for svc in cluster.kube.core.list_namespaced_service(namespace).items
        if svc.spec.cluster_ip != "None" and svc.spec.selector
    }
    findings = []
    if not any(pods == primary for pods in behind.values()):
        findings.append(
            checks.Finding("Services", f"one whose ready endpoints are the primary {sorted(primary)}", str(behind))
        )
    if not any(pods == replicas for pods in behind.values()):
        findings.append(
            checks.Finding("Services", f"one whose ready endpoints are the replicas {sorted(replicas)}", str(behind))
        )
    return findings


def handler(probe: dict) -> dict:
    """What a probe runs (exec, httpGet, tcpSocket or grpc), its timings aside."""
    return {k: v for k, v in probe.items() if k in ("exec", "httpGet", "tcpSocket", "grpc")}


# --- static tier: the hand-in's manifests ---------------------------------------------------------


@pytest.mark.static
@pytest.mark.requirement(
    "D12.1", "a primary StatefulSet of one pod and a replica StatefulSet, each pod on its own claim"
)
def test_handin_declares_primary_and_replicas(handin_objects, suite):
    sets = _statefulsets(handin_objects, suite)
    findings = checks.replicas(sets[PRIMARY], 1)
    if sets[REPLICA].get("spec", {}).get("replicas", 1) < 1:
        findings.append(checks.Finding(manifests.name_of(sets[REPLICA]), "at least 1 replica", "0"))
    for sts in sets.values():
        if not sts.get("spec", {}).get("volumeClaimTemplates"):
            findings.append(checks.Finding(manifests.name_of(sts), "volumeClaimTemplates (a volume per pod)", "none"))
    checks.require("D12.1 StatefulSets", findings)


@pytest.mark.static
@pytest.mark.requirement("D12.2", "a Service for writes selects only the primary, one for reads only the replicas")
def test_handin_services_split_writes_and_reads(handin_objects, suite):
    sets = _statefulsets(handin_objects, suite)
    split = discover.write_read_services(handin_objects, sets[PRIMARY], sets[REPLICA])
    findings = split.findings(manifests.name_of(sets[PRIMARY]), manifests.name_of(sets[REPLICA]))
    for sts in sets.values():
        findings += discover.governing_findings(handin_objects, sts)
    checks.require("D12.2 Services", findings)


@pytest.mark.static
@pytest.mark.requirement(
    "D12.3", "replicas have a readiness probe (replicating) that checks more than their liveness probe"
)
def test_handin_replica_probes(handin_objects, suite):
    replica = _statefulsets(handin_objects, suite)[REPLICA]
    findings = []
    for container in pg.postgres_containers(replica, suite.target.database_port):
        ready, live = container.get("readinessProbe"), container.get("livenessProbe")
        where = f"{manifests.name_of(replica)} container {container.get('name')}"
        if not ready or not live:
            findings.append(
                checks.Finding(where, "a readiness and a liveness probe", f"readiness={ready} liveness={live}")
            )
        elif handler(ready) == handler(live):
            findings.append(
                checks.Finding(where, "readiness (streaming, lag) checking more than liveness", "the same check")
            )
    checks.require("D12.3 probes", findings)


# --- live tier --------------------------------------------------------------------------------------


@pytest.mark.requirement("D12.1", "the primary and every replica run Ready, each pod on a claim of its own")
def test_primary_and_replicas_ready_each_on_its_own_claim(suite, cluster, namespace, replicated):
    pods = replicated.pods(replicated.primary_selector) + replicated.replica_pods()
    not_ready = [p.metadata.name for p in pods if not kube.pod_ready(p)]
    # Every replica: as many running as the group's replica workload declares, and at least one.
    workload = stack.resolve(cluster, namespace, suite.target.component(REPLICA))
    declared = stack.declared_replicas(cluster, namespace, workload)
    running = [p.metadata.name for p in replicated.replica_pods()]
    assert running, "no replica pod is running"
    assert len(running) == declared, (
        f"expected the {declared} replicas {workload.kind}/{workload.name} declares running, found {running}"
    )
    assert not not_ready, f"pods not Ready: {not_ready}"
    claims = {
        p.metadata.name: [v.persistent_volume_claim.claim_name for v in p.spec.volumes if v.persistent_volume_claim]
        for p in pods
    }
    shared = [c for c in {c for cs in claims.values() for c in cs} if sum(c in cs for cs in claims.values()) > 1]
    assert all(claims.values()), f"pods without a volume claim: {claims}"
    assert not shared, f"claims shared by several pods: {shared}"


@pytest.mark.requirement(
    "D12.2", "the write Service's endpoints are the primary's pod, the read Service's the replicas'"
)
def test_live_services_route_writes_and_reads(cluster, namespace, replicated):
    findings = service_endpoint_findings(cluster, namespace, replicated)
    checks.require("D12.2 Services", findings)


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D12.4", "pg_stat_replication on the primary shows every replica streaming")
def test_every_replica_streams(replicated, record):
    standbys = replicated.assert_streaming(timeouts.POD_READY)
    record("standbys", [f"{s.name}@{s.address}:{s.state}/{s.sync_state}" for s in standbys])


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D12.5", "a row committed on the primary is readable on every replica within 2 s")
def test_row_reaches_every_replica_within_2s(replicated, record):
    lags = replicated.assert_rows_reach_replicas(timeouts.REPLICATION_VISIBLE)
    record("replication_visibility_ms", {pod: round(s * 1000, 1) for pod, s in lags.items()})


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D12.6", "a write on a replica is refused")
def test_replicas_refuse_writes(replicated):
    replicated.assert_replicas_refuse_writes()


@pytest.mark.disruptive
@pytest.mark.needs("delete", "persistentvolumeclaims")
@pytest.mark.needs("delete", "pods")
@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D12.7", "a replica whose pod and claim are deleted is rebuilt from the primary and streams")
def test_replica_rebuilt_after_losing_its_volume(suite, replicated, record):
    victim = replicated.replica_pods()[-1].metadata.name
    seconds = replicated.assert_replica_rebuilds(victim, timeouts.REPLICA_REBUILD)
    record("replica_rebuild_seconds", round(seconds, 1))
