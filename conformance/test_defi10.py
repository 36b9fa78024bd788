"""Défi 10 — Pin Pon : every container has a liveness probe of a type that fits it, and a hung site is restarted."""

from __future__ import annotations

import pytest

from kubedefis import kube
from kubedefis.harness import checks, helm, stack
from kubedefis.waits import Check, wait_for

PRESET = "defi10"
# What fits each container: Django answers HTTP (/healthz without the database), PostgreSQL is
# asked with pg_isready (exec), since it speaks no HTTP.
FITTING = {"api": {"httpGet"}, "public": {"httpGet"}, "database": {"exec", "tcpSocket", "grpc"}}


@pytest.fixture(scope="module")
def installed(suite, cluster, namespace):
    return stack.install_stack(cluster, suite, namespace, PRESET)


@pytest.fixture(scope="module")
def rendered(suite):
    from kubedefis.pytest_plugin import find_tool

    chart = suite.chart_under_test()
    values = helm.load_values(stack.chart_values(suite, PRESET))
    return helm.Helm(find_tool("helm")).template(chart, suite.target.release, values)


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
        for container in checks.containers(obj):
            kinds = checks.ready_probe_kinds(container)
            where = f"{checks.name_of(obj)} container {container['name']}"
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
        objects.append(checks.live(read(resolved.name, namespace)))
    checks.require("D10.1 probes", _probe_findings(suite.target, objects))


@pytest.mark.disruptive
@pytest.mark.requirement("D10.2", "a hung site container is restarted by its liveness probe in time")
def test_hung_site_is_restarted(suite, cluster, namespace, installed):
    if not suite.allow_disruption:
        pytest.skip("freezes a pod: needs --allow-disruption")
    if cluster.local_spec is None:
        pytest.skip("freezing a container needs the node: only on the local kind cluster")
    api = installed["api"]
    pod = stack.running_pods(cluster, namespace, api.selector)[0]
    container = pod.spec.containers[0]
    probe = container.liveness_probe
    assert probe is not None, "no liveness probe to test"
    restarts = next(s.restart_count for s in pod.status.container_statuses if s.name == container.name)
    grace = pod.spec.termination_grace_period_seconds or 30
    budget = (probe.period_seconds or 10) * (probe.failure_threshold or 3) + (probe.timeout_seconds or 1) + grace + 30
    stack.freeze_container(cluster, pod, container.name)

    def restarted() -> Check[None]:
        current = cluster.kube.core.read_namespaced_pod(pod.metadata.name, namespace)
        count = next(s.restart_count for s in current.status.container_statuses if s.name == container.name)
        return Check(count > restarts, state=f"restarts: {count} (was {restarts})")

    wait_for(
        f"kubelet to restart the frozen container {pod.metadata.name}/{container.name}",
        restarted,
        timeout=budget,
        evidence=lambda: kube.recent_events(cluster.kube, namespace, pod.metadata.name),
    )
    events = kube.recent_events(cluster.kube, namespace, pod.metadata.name, limit=30)
    assert "Liveness probe failed" in events or "Unhealthy" in events, events
