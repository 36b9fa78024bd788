"""Défi 10 — Pin Pon : every container has a liveness probe of a type that fits it, and each one hung is restarted."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from kubedefis.core import kube, manifests, timeouts
from kubedefis.core.waits import Check, wait_for
from kubedefis.harness import checks
from kubedefis.harness import stage as stack

PRESET = "defi10"
SIZE = "small"  # one pod per app is enough: every container is checked
# What fits each container: Django answers HTTP (/healthz without the database), PostgreSQL is
# asked with pg_isready (exec), since it speaks no HTTP.
FITTING = {"api": {"httpGet"}, "public": {"httpGet"}, "database": {"exec", "tcpSocket", "grpc"}}


@pytest.fixture(scope="module")
def installed(suite, cluster, namespace, stage):
    return {
        name: stack.wait_component(cluster, namespace, suite.target.component(name), timeouts.DATABASE_READY)
        for name in ("database", "api", "public")
    }


def _component(target, obj) -> str | None:
    """Which of api, public and database a workload is, found as the target file says."""
    labels = obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels") or {}
    return target.component_of(obj.get("metadata", {}).get("name", ""), labels, tuple(FITTING))


def _probe_findings(target, objects) -> list[checks.Finding]:
    findings = []
    for obj in objects:
        if obj.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        fitting = FITTING.get(_component(target, obj) or "", {"httpGet", "exec", "tcpSocket", "grpc"})
        for container in manifests.containers(obj):
            kinds = checks.ready_probe_kinds(container)
            where = f"{manifests.name_of(obj)} container {container['name']}"
            if kinds["livenessProbe"] not in fitting:
                findings.append(
                    checks.Finding(where, f"a liveness probe of type {sorted(fitting)}", str(kinds["livenessProbe"]))
                )
            if kinds["readinessProbe"] is None:
                findings.append(checks.Finding(where, "a readiness probe", "none"))
    return findings


@pytest.mark.static
@pytest.mark.requirement("D10.1", "every container of the chart has a liveness probe of a fitting type")
def test_rendered_containers_have_fitting_probes(suite, rendered):
    assert any(o.get("kind") in ("Deployment", "StatefulSet") for o in rendered)
    checks.require("D10.1 probes", _probe_findings(suite.target, rendered))


@pytest.mark.requirement("D10.1", "every running container has a liveness probe of a fitting type")
def test_live_containers_have_fitting_probes(suite, cluster, namespace, installed):
    objects = []
    for resolved in installed.values():
        read = (
            cluster.kube.apps.read_namespaced_deployment
            if resolved.kind == "Deployment"
            else cluster.kube.apps.read_namespaced_stateful_set
        )
        objects.append(manifests.live(read(resolved.name, namespace)))
    checks.require("D10.1 probes", _probe_findings(suite.target, objects))


# When a hung container must be restarted, read from its pod spec: its liveness probe fails
# periodSeconds x failureThreshold after the hang (the last try timing out after timeoutSeconds),
# then kubelet stops it within the pod's terminationGracePeriodSeconds (a frozen process ignores
# SIGTERM until the SIGKILL). RESTART_SLACK covers kubelet's sync and a loaded node.
RESTART_SLACK = 30 * timeouts.SCALE
# A probe slower to notice a hang than this does not restart it "in time" (and is not waited for).
DETECTION_CEILING = 300


@dataclass
class Hung:
    """One frozen container and when its probe config says kubelet must have restarted it."""

    component: str
    pod: str
    container: str
    restarts: int
    deadline: float  # seconds after the freeze
    restarted_after: float | None = None

    @property
    def where(self) -> str:
        return f"{self.component}: pod {self.pod} container {self.container}"


def _restart_deadline(pod, container) -> tuple[float | None, str]:
    """(seconds within which the hung container must be restarted, how that was derived); None: no probe in time."""
    probe = container.liveness_probe
    if probe is None:
        return None, "no liveness probe"
    period, threshold, timeout = probe.period_seconds or 10, probe.failure_threshold or 3, probe.timeout_seconds or 1
    grace = pod.spec.termination_grace_period_seconds
    grace = 30 if grace is None else grace
    detection = period * threshold + timeout
    how = f"liveness every {period}s x {threshold} failures + {timeout}s timeout = {detection}s, grace {grace}s"
    if detection > DETECTION_CEILING:
        return None, how
    return detection + grace + RESTART_SLACK, how


def _restart_count(pod, container: str) -> int:
    return next((s.restart_count for s in pod.status.container_statuses or [] if s.name == container), 0)


@pytest.mark.disruptive
@pytest.mark.requirement(
    "D10.2", "every container (api, public, database) hung is restarted by its liveness probe in time"
)
def test_every_hung_container_is_restarted(suite, cluster, namespace, installed):
    if cluster.local_spec is None:
        pytest.skip("freezing a container needs the node: only on the local kind cluster")
    findings, hung = [], []
    for component, resolved in installed.items():
        pods = stack.running_pods(cluster, namespace, resolved.selector)
        if not pods:
            findings.append(checks.Finding(component, "a running pod", f"none matches {resolved.selector}"))
            continue
        pod = pods[0]  # one pod of each: its containers are those of every pod of the workload
        for container in pod.spec.containers:
            deadline, how = _restart_deadline(pod, container)
            where = f"{component}: pod {pod.metadata.name} container {container.name}"
            if deadline is None:
                expected = f"a liveness probe noticing a hang within {DETECTION_CEILING}s"
                findings.append(checks.Finding(where, expected, how))
                continue
            hung.append(
                Hung(component, pod.metadata.name, container.name, _restart_count(pod, container.name), deadline)
            )
    pods_by_name = {
        p.metadata.name: p for r in installed.values() for p in stack.running_pods(cluster, namespace, r.selector)
    }
    # Every container hangs at once: each is then waited for by its own deadline.
    start = time.monotonic()
    for h in hung:
        stack.freeze_container(cluster, pods_by_name[h.pod], h.container)
    pending = list(hung)

    def each_restarted_or_past_its_deadline() -> Check[None]:
        elapsed = time.monotonic() - start
        for h in list(pending):
            current = cluster.kube.core.read_namespaced_pod(h.pod, namespace)
            if _restart_count(current, h.container) > h.restarts:
                h.restarted_after = elapsed
                pending.remove(h)
            elif elapsed > h.deadline:
                pending.remove(h)
        return Check(not pending, state=f"waiting for {[h.where for h in pending]}")

    # Each container is judged against its own deadline inside the poll; the wait's bound is the longest.
    wait_for(
        "every frozen container restarted or past its deadline",
        each_restarted_or_past_its_deadline,
        timeout=max((h.deadline for h in hung), default=0) + 30,
        interval=2,
    )
    for h in hung:
        expected = f"restarted within {h.deadline:.0f}s of hanging, by its liveness probe"
        if h.restarted_after is None:
            events = kube.recent_events(cluster.kube, namespace, h.pod, limit=10)
            findings.append(checks.Finding(h.where, expected, f"not restarted after {h.deadline:.0f}s; {events}"))
            continue
        events = kube.recent_events(cluster.kube, namespace, h.pod, limit=40)
        if f"Container {h.container} failed liveness probe" not in events and "Liveness probe failed" not in events:
            findings.append(checks.Finding(h.where, expected, f"restarted, but not by a liveness probe: {events}"))
    checks.require("D10.2 restarts", findings)
