"""Défi 11 — Connexions peu dangereuses : only the api and public pods reach PostgreSQL; other pods do not."""

from __future__ import annotations

import pytest

from kubedefis.harness import access, checks, helm, stack, timeouts
from kubedefis.harness.probes import tcp_probe

PRESET = "defi11"
INTRUDER = {"app.kubernetes.io/name": "intruder", "app.kubernetes.io/component": "intruder"}


@pytest.fixture(scope="module")
def installed(suite, cluster, namespace):
    return stack.install_stack(cluster, suite, namespace, PRESET)


@pytest.fixture(scope="module")
def database_address(cluster, namespace, installed):
    service = installed["database"].service(headless=None)
    port = next((p.port for p in service.spec.ports), 5432)
    return f"{service.metadata.name}.{namespace}.svc", port


@pytest.fixture(scope="module")
def probe_image(cluster, namespace, installed):
    """The api's own image: it is on the nodes already and has Python."""
    pod = stack.running_pods(cluster, namespace, installed["api"].selector)[0]
    return pod.spec.containers[0].image


def _labels_of(cluster, namespace, resolved) -> dict[str, str]:
    pod = stack.running_pods(cluster, namespace, resolved.selector)[0]
    return {k: v for k, v in (pod.metadata.labels or {}).items() if k != "pod-template-hash"}


@pytest.mark.static
@pytest.mark.requirement("D11.1", "a NetworkPolicy admits only api and public pods to the database")
def test_rendered_policy_admits_only_api_and_public(suite):
    from kubedefis.pytest_plugin import find_tool

    chart = suite.chart_under_test()
    values = helm.load_values(stack.chart_values(suite, PRESET))
    objects = helm.Helm(find_tool("helm")).template(chart, suite.target.release, values)
    workloads = {}  # api, public and database found as the target says; any other workload by its name
    for w in objects:
        if w["kind"] in ("Deployment", "StatefulSet"):
            labels = w["spec"]["template"]["metadata"].get("labels") or {}
            key = suite.target.component_of(w["metadata"]["name"], labels, ("api", "public", "database"))
            workloads[key or w["metadata"]["name"]] = w
    assert "database" in workloads, f"no database workload among {sorted(workloads)}"
    policies = [
        p
        for p in objects
        if p["kind"] == "NetworkPolicy"
        and checks.selects(
            p["spec"]["podSelector"].get("matchLabels"), workloads["database"]["spec"]["template"]["metadata"]["labels"]
        )
    ]
    assert policies, "no NetworkPolicy selects the database pods"
    allowed = set()
    for policy in policies:
        assert "Ingress" in policy["spec"].get("policyTypes", ["Ingress"])
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                assert "podSelector" in peer and "namespaceSelector" not in peer, f"too broad a peer: {peer}"
                for component, workload in workloads.items():
                    if checks.label_selector_matches(
                        peer["podSelector"], workload["spec"]["template"]["metadata"]["labels"]
                    ):
                        allowed.add(component)
                assert not checks.label_selector_matches(peer["podSelector"], INTRUDER), f"admits anyone: {peer}"
    assert {"api", "public"} <= allowed and "database" not in allowed, f"admitted components: {allowed}"


@pytest.mark.parametrize("component", ["api", "public"])
@pytest.mark.needs("create", "pods")
@pytest.mark.needs("delete", "pods")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.requirement("D11.2", "a pod labelled as api or public reaches PostgreSQL on its port")
def test_site_pods_reach_the_database(cluster, namespace, installed, database_address, probe_image, component):
    labels = _labels_of(cluster, namespace, installed[component])
    result = tcp_probe(cluster.kube, namespace, probe_image, labels, *database_address)
    assert result.connected, f"a pod labelled {labels} could not connect: {result.output}"


@pytest.mark.needs("create", "pods")
@pytest.mark.needs("delete", "pods")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.requirement("D11.3", "a pod with any other label in the same namespace cannot reach PostgreSQL")
def test_other_pods_are_blocked(cluster, namespace, installed, database_address, probe_image):
    result = tcp_probe(cluster.kube, namespace, probe_image, INTRUDER, *database_address)
    assert not result.connected, f"a pod labelled {INTRUDER} reached the database: {result.output}"


@pytest.mark.needs("create", "pods/portforward")
@pytest.mark.requirement("D11.4", "the site keeps working with the policy in place")
def test_site_still_reads_the_database(cluster, namespace, installed):
    api = installed["api"]
    with access.port_forward(
        cluster.kubectl_command(),
        namespace,
        f"service/{api.service().metadata.name}",
        api.service().spec.ports[0].port,
        timeouts.PROXY_START,
    ) as port:
        response = access.wait_http(
            "/readyz of the api",
            lambda: access.http("GET", f"http://127.0.0.1:{port}/readyz"),
            timeout=timeouts.HTTP_READY,
        )
        assert response.status == 200
        stats = access.http("GET", f"http://127.0.0.1:{port}/api/stats", headers={"Accept": "application/json"})
        assert stats.status == 200, stats
