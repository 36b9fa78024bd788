"""Défi 5 — Au complet : api and public images, 3 replicas each with requests and limits, a database pod with
the same, and the Ingress sending /api to the api pods and / to the public pods."""

from __future__ import annotations

import pytest

from kubedefis.harness import access, checks, stack, timeouts

DEFI = "defi5"
REPLICAS = 3
REQUESTS = {"cpu": "100m", "memory": "100Mi"}
LIMITS = {"cpu": "200m", "memory": "200Mi"}
COMPONENT_HEADER = "x-kubedefis-component"


@pytest.fixture(scope="module")
def stack_parts(suite, cluster, namespace):
    if not suite.target.deployed:
        stack.ensure_handin_images(cluster)
        stack.apply_handin(cluster, namespace, suite.handin / DEFI)
    database = stack.wait_component(cluster, namespace, suite.target.component("database"), timeouts.DATABASE_READY)
    api = stack.wait_component(cluster, namespace, suite.target.component("api"))
    public = stack.wait_component(cluster, namespace, suite.target.component("public"))
    return {"api": api, "public": public, "database": database}


@pytest.fixture(scope="module")
def endpoint(suite, cluster, namespace, stack_parts):
    host = suite.target.ingress_host
    if not host:
        hosts = [
            r.host
            for i in cluster.kube.networking.list_namespaced_ingress(namespace).items
            for r in i.spec.rules or []
            if r.host
        ]
        assert hosts, f"no Ingress with a host rule in {namespace}"
        host = hosts[0]
    return cluster.ingress(host)


def _images(cluster, namespace, resolved):
    pods = stack.running_pods(cluster, namespace, resolved.selector)
    return {c.image for p in pods for c in p.spec.containers}


@pytest.mark.requirement("D5.1", "api and public run from two different images")
def test_api_and_public_use_two_images(cluster, namespace, stack_parts):
    api, public = _images(cluster, namespace, stack_parts["api"]), _images(cluster, namespace, stack_parts["public"])
    assert api and public, "no running api or public pod"
    assert not api & public, f"api and public share an image: {api & public}"


@pytest.mark.parametrize("component", ["api", "public"])
@pytest.mark.requirement("D5.2", "api and public: 3 ready replicas, 100m/100Mi requested, 200m/200Mi at most")
def test_three_ready_replicas_with_resources(cluster, namespace, stack_parts, component):
    resolved = stack_parts[component]
    pods = [p for p in stack.running_pods(cluster, namespace, resolved.selector) if stack.ready(p)]
    assert len(pods) == REPLICAS, f"{component}: expected {REPLICAS} ready pods, found {len(pods)}"
    checks.require(
        f"D5.2 {component} resources", [f for p in pods for f in checks.resources(checks.live(p), REQUESTS, LIMITS)]
    )
    checks.require(f"D5.2 {component} service", checks.service_type(checks.live(resolved.service()), "ClusterIP"))


@pytest.mark.requirement("D5.3", "the database: one pod with the same requests and limits, behind a Service")
def test_database_pod_with_same_resources(cluster, namespace, stack_parts):
    database = stack_parts["database"]
    pods = stack.running_pods(cluster, namespace, database.selector)
    assert len(pods) == 1, f"expected 1 database pod, found {[p.metadata.name for p in pods]}"
    checks.require("D5.3 resources", checks.resources(checks.live(pods[0]), REQUESTS, LIMITS))
    assert database.services, "no Service selects the database pod"


@pytest.mark.parametrize(("path", "component"), [("/api/cars", "api"), ("/", "public"), ("/voitures/", "public")])
@pytest.mark.requirement("D5.4", "the Ingress sends /api to the api pods and / to the public pods")
def test_ingress_routes_by_path(endpoint, stack_parts, path, component):
    response = access.wait_http(f"{path} through the Ingress", lambda: endpoint.get(path), timeout=timeouts.HTTP_READY)
    served_by = response.headers.get(COMPONENT_HEADER)
    assert served_by == component, f"{path} was served by {served_by!r}, expected {component!r}"
    pod = response.headers.get("x-kubedefis-pod", "")
    assert pod.startswith(stack_parts[component].name), f"{path} answered by pod {pod!r}"
