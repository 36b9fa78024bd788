"""Défi 11 — Connexions peu dangereuses : only the api and public pods reach PostgreSQL; other pods do not."""

from __future__ import annotations

import pytest

from kubedefis.core import manifests, timeouts
from kubedefis.harness import access, checks
from kubedefis.harness import stage as stack
from kubedefis.harness.probes import tcp_probe

PRESET = "defi11"
SIZE = "small"  # checks neither replica counts nor requests
INTRUDER = {"app.kubernetes.io/name": "intruder", "app.kubernetes.io/component": "intruder"}


@pytest.fixture(scope="module")
def installed(suite, cluster, namespace, stage):
    return {
        name: stack.wait_component(cluster, namespace, suite.target.component(name), timeouts.DATABASE_READY)
        for name in ("database", "api", "public")
    }


@pytest.fixture(scope="module")
def database_address(suite, cluster, namespace, installed):
    """The database Service's DNS name and the port of it that leads to PostgreSQL (the target's database_port)."""
    service = installed["database"].service(headless=None)
    ports = service.spec.ports or []
    wanted = suite.target.database_port
    port = next((p.port for p in ports if wanted in (p.port, p.target_port)), None)
    if port is None and len(ports) == 1:
        port = ports[0].port  # one port, whatever it is called
    assert port is not None, (
        f"Service {service.metadata.name}: expected a port to PostgreSQL ({wanted}, the target's database_port), "
        f"found {[(p.name, p.port, p.target_port) for p in ports]}"
    )
    return f"{service.metadata.name}.{namespace}.svc", port


@pytest.fixture(scope="module")
def probe_image(cluster, namespace, installed):
    """The api's own image: it is on the nodes already and has Python."""
    pod = stack.a_running_pod(cluster, namespace, installed["api"])
    return pod.spec.containers[0].image


def _labels_of(cluster, namespace, resolved) -> dict[str, str]:
    pod = stack.a_running_pod(cluster, namespace, resolved)
    return {k: v for k, v in (pod.metadata.labels or {}).items() if k != "pod-template-hash"}


@pytest.mark.static
@pytest.mark.requirement("D11.1", "a NetworkPolicy admits only api and public pods to the database")
def test_rendered_policy_admits_only_api_and_public(suite, rendered):
    objects = rendered
    workloads = {}  # api, public and database found as the target says; any other workload by its name
    for w in objects:
        if w["kind"] in ("Deployment", "StatefulSet"):
            labels = manifests.pod_labels(w)
            key = suite.target.component_of(w["metadata"]["name"], labels, ("api", "public", "database"))
            workloads[key or w["metadata"]["name"]] = w
    assert "database" in workloads, f"no database workload among {sorted(workloads)}"
    database_labels = manifests.pod_labels(workloads["database"])
    policies = [
        p
        for p in objects
        if p["kind"] == "NetworkPolicy"
        and manifests.selects((p.get("spec") or {}).get("podSelector"), database_labels, empty_selects_all=True)
    ]
    assert policies, "no NetworkPolicy selects the database pods"
    allowed, findings = set(), []
    for policy in policies:
        spec, where = policy["spec"], manifests.name_of(policy)
        if "Ingress" not in spec.get("policyTypes", ["Ingress"]):
            findings.append(checks.Finding(where, "policyTypes with Ingress", str(spec.get("policyTypes"))))
        for rule in spec.get("ingress") or []:
            if not rule.get("from"):  # a rule without sources admits every pod, every namespace
                findings.append(checks.Finding(where, "ingress rules naming their sources (from)", f"{rule}"))
            for peer in rule.get("from") or []:
                if "podSelector" not in peer or "namespaceSelector" in peer or "ipBlock" in peer:
                    findings.append(
                        checks.Finding(where, "peers selecting pods of the namespace", f"too broad: {peer}")
                    )
                    continue
                for component, workload in workloads.items():
                    if manifests.selects(peer["podSelector"], manifests.pod_labels(workload), empty_selects_all=True):
                        allowed.add(component)
                if manifests.selects(peer["podSelector"], INTRUDER, empty_selects_all=True):
                    findings.append(
                        checks.Finding(where, "peers selecting api and public only", f"admits anyone: {peer}")
                    )
    if not {"api", "public"} <= allowed or "database" in allowed:
        findings.append(
            checks.Finding("NetworkPolicies", "api and public admitted, not the database", str(sorted(allowed)))
        )
    checks.require("D11.1 policy", findings)


@pytest.mark.parametrize("component", ["api", "public"])
@pytest.mark.needs("create", "pods")
@pytest.mark.needs("delete", "pods")
@pytest.mark.needs("get", "pods/log")
@pytest.mark.requirement("D11.2", "a pod labelled as api or public reaches PostgreSQL on its port")
def test_site_pods_reach_the_database(cluster, namespace, installed, database_address, probe_image, component):
    labels = _labels_of(cluster, namespace, installed[component])
    result = tcp_probe(cluster.kube, namespace, probe_image, labels, *database_address, window=timeouts.NETWORK_ALLOWED)
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
def test_site_still_reads_the_database(suite, cluster, namespace, installed):
    api = installed["api"]
    probe = suite.target.site.api_probe  # an API read that needs the database (the target's, else ours)
    with access.port_forward(
        cluster.kubectl_command(),
        namespace,
        f"service/{api.service().metadata.name}",
        api.service().spec.ports[0].port,
        timeouts.PROXY_START,
    ) as port:
        response = access.wait_http(
            f"{probe} (api_probe) of the api",
            lambda: access.http("GET", f"http://127.0.0.1:{port}{probe}", headers={"Accept": "application/json"}),
            timeout=timeouts.HTTP_READY,
        )
        assert response.status == 200, f"expected 200 for {probe} (api_probe), found {response}"
