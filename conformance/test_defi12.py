"""Défi 12 — Connexions robustes: PostgreSQL as a primary and streaming replicas, from plain manifests.

The course says no chart change is needed: the hand-in (defis/defi12/) is applied with kubectl.
Requirements: a primary and replicas, each on its own volume; every replica streams from the
primary; a committed row is readable on each replica within 2 s; replicas refuse writes; a
replica that lost its volume is rebuilt from the primary and streams again.
"""

from __future__ import annotations

import pytest

from kubedefis.harness import checks, manifests, stack, timeouts
from kubedefis.harness.measures import record_fixture  # noqa: F401  (the `record` fixture)
from kubedefis.harness.postgres import Replicated

PRIMARY, REPLICA = "database", "database-replica"


@pytest.fixture(scope="module")
def handin_objects(handin):
    return manifests.load([handin / "defi12"])


@pytest.fixture(scope="module")
def replicated(suite, cluster, namespace, handin):
    if not suite.target.deployed:
        stack.ensure_handin_images(cluster)
        stack.apply_handin(cluster, namespace, handin / "defi12")
    primary = stack.wait_component(cluster, namespace, suite.target.component(PRIMARY), timeouts.DATABASE_READY)
    replicas = stack.wait_component(cluster, namespace, suite.target.component(REPLICA), timeouts.REPLICA_REBUILD)
    return Replicated(cluster, namespace, primary.selector, replicas.selector)


def _statefulsets(objects, suite):
    found = {}
    for key in (PRIMARY, REPLICA):
        component = suite.target.component(key)
        matches = [
            s
            for s in manifests.find(objects, "StatefulSet", component.name or None)
            if component.name or checks.pod_labels_match(s, component.selector)
        ]
        assert matches, f"no StatefulSet for the {key} ({component.selector or component.name}) in the hand-in"
        found[key] = matches[0]
    return found


# --- static tier: the hand-in's manifests ---------------------------------------------------------


@pytest.mark.static
@pytest.mark.requirement(
    "D12.1", "a primary StatefulSet of one pod and a replica StatefulSet, each pod on its own claim"
)
def test_handin_declares_primary_and_replicas(handin_objects, suite):
    sets = _statefulsets(handin_objects, suite)
    findings = checks.replicas(sets[PRIMARY], 1)
    if sets[REPLICA].get("spec", {}).get("replicas", 1) < 1:
        findings.append(checks.Finding(checks.name_of(sets[REPLICA]), "at least 1 replica", "0"))
    for sts in sets.values():
        if not sts.get("spec", {}).get("volumeClaimTemplates"):
            findings.append(checks.Finding(checks.name_of(sts), "volumeClaimTemplates (a volume per pod)", "none"))
    checks.require("D12.1 StatefulSets", findings)


@pytest.mark.static
@pytest.mark.requirement("D12.2", "a Service for writes selects only the primary, one for reads only the replicas")
def test_handin_services_split_writes_and_reads(handin_objects, suite):
    sets = _statefulsets(handin_objects, suite)
    labels = {k: s["spec"]["template"]["metadata"].get("labels", {}) for k, s in sets.items()}
    services = [s for s in manifests.find(handin_objects, "Service") if s.get("spec", {}).get("clusterIP") != "None"]
    routes = {
        key: [s for s in services if checks.selects(s["spec"].get("selector"), labels[key])]
        for key in (PRIMARY, REPLICA)
    }
    only = {
        key: [s["metadata"]["name"] for s in found if not checks.selects(s["spec"].get("selector"), labels[other])]
        for (key, found), other in zip(routes.items(), (REPLICA, PRIMARY), strict=True)
    }
    findings = [
        checks.Finding("Services", f"a ClusterIP Service selecting the {key} pods only", str(names or "none"))
        for key, names in only.items()
        if not names
    ]
    for sts in sets.values():
        governing = manifests.find(handin_objects, "Service", sts["spec"].get("serviceName"))
        if not governing or governing[0]["spec"].get("clusterIP") != "None":
            findings.append(checks.Finding(checks.name_of(sts), "a headless governing Service (serviceName)", "none"))
    checks.require("D12.2 Services", findings)


@pytest.mark.static
@pytest.mark.requirement("D12.3", "replicas have a readiness probe that checks more than their liveness probe")
def test_handin_replica_probes(handin_objects, suite):
    replica = _statefulsets(handin_objects, suite)[REPLICA]
    findings = []
    for container in checks.containers(replica):
        ready, live = container.get("readinessProbe"), container.get("livenessProbe")
        where = f"{checks.name_of(replica)} container {container.get('name')}"
        if not ready or not live:
            findings.append(
                checks.Finding(where, "a readiness and a liveness probe", f"readiness={ready} liveness={live}")
            )
        elif ready == live:
            findings.append(checks.Finding(where, "readiness (streaming, lag) different from liveness", "the same"))
    checks.require("D12.3 probes", findings)


# --- live tier --------------------------------------------------------------------------------------


@pytest.mark.requirement("D12.1", "the primary and every replica run Ready, each pod on a claim of its own")
def test_primary_and_replicas_ready_each_on_its_own_claim(replicated):
    pods = replicated.pods(replicated.primary_selector) + replicated.replica_pods()
    not_ready = [p.metadata.name for p in pods if not stack.ready(p)]
    assert len(replicated.replica_pods()) >= 1, "no replica pod is running"
    assert not not_ready, f"pods not Ready: {not_ready}"
    claims = {
        p.metadata.name: [v.persistent_volume_claim.claim_name for v in p.spec.volumes if v.persistent_volume_claim]
        for p in pods
    }
    shared = [c for c in {c for cs in claims.values() for c in cs} if sum(c in cs for cs in claims.values()) > 1]
    assert all(claims.values()), f"pods without a volume claim: {claims}"
    assert not shared, f"claims shared by several pods: {shared}"


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D12.2", "pg_stat_replication on the primary shows every replica streaming")
def test_every_replica_streams(replicated, record):
    standbys = replicated.assert_streaming(timeouts.POD_READY)
    record("standbys", [f"{s.name}@{s.address}:{s.state}/{s.sync_state}" for s in standbys])


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D12.3", "a row committed on the primary is readable on every replica within 2 s")
def test_row_reaches_every_replica_within_2s(replicated, record):
    lags = replicated.assert_rows_reach_replicas(timeouts.REPLICATION_VISIBLE)
    record("replication_visibility_ms", {pod: round(s * 1000, 1) for pod, s in lags.items()})


@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D12.4", "a write on a replica is refused")
def test_replicas_refuse_writes(replicated):
    replicated.assert_replicas_refuse_writes()


@pytest.mark.disruptive
@pytest.mark.needs("delete", "persistentvolumeclaims")
@pytest.mark.needs("delete", "pods")
@pytest.mark.needs("create", "pods/exec")
@pytest.mark.requirement("D12.5", "a replica whose pod and claim are deleted is rebuilt from the primary and streams")
def test_replica_rebuilt_after_losing_its_volume(suite, replicated, record):
    if not suite.allow_disruption:
        pytest.skip("deletes a replica and its volume: run with --allow-disruption")
    victim = replicated.replica_pods()[-1].metadata.name
    seconds = replicated.assert_replica_rebuilds(victim, timeouts.REPLICA_REBUILD)
    record("replica_rebuild_seconds", round(seconds, 1))
