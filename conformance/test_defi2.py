"""Défi 2 — a Deployment of 3 replicas with requests and limits, behind a ClusterIP Service, via kubectl proxy."""

from __future__ import annotations

import pytest

from kubedefis.harness import access, checks, manifests, stack, timeouts

COMPONENT = "web"
REPLICAS = 3
REQUESTS = {"cpu": "100m", "memory": "100Mi"}
LIMITS = {"cpu": "200m", "memory": "200Mi"}


@pytest.fixture(scope="module")
def handin_objects(handin):
    return manifests.load([handin / "defi2"])


@pytest.fixture(scope="module")
def web(suite, cluster, namespace, handin):
    component = suite.target.components[COMPONENT]
    if not suite.target.deployed:
        stack.ensure_web_nodb_image(cluster)
        stack.apply_handin(cluster, namespace, handin / "defi2")
    stack.wait_deployment(cluster, namespace, component)
    return component


def _deployment(objects, name):
    found = manifests.find(objects, "Deployment", name)
    assert found, f"no Deployment named {name!r} in the hand-in"
    return found[0]


# --- static tier: the hand-in's manifests ---------------------------------------------------------


@pytest.mark.static
@pytest.mark.requirement("D2.1", "the Deployment asks for 3 replicas")
def test_handin_declares_three_replicas(handin_objects, suite):
    checks.require("D2.1 replicas", checks.replicas(_deployment(handin_objects, suite.target.components[COMPONENT].name),
                                                     REPLICAS))


@pytest.mark.static
@pytest.mark.requirement("D2.2", "every container requests 100m CPU / 100Mi and is limited to 200m / 200Mi")
def test_handin_declares_requests_and_limits(handin_objects, suite):
    deployment = _deployment(handin_objects, suite.target.components[COMPONENT].name)
    checks.require("D2.2 resources", checks.resources(deployment, REQUESTS, LIMITS))


@pytest.mark.static
@pytest.mark.requirement("D2.3", "a ClusterIP Service selects the pods and targets their port")
def test_handin_service_routes_to_the_pods(handin_objects, suite):
    component = suite.target.components[COMPONENT]
    services = manifests.find(handin_objects, "Service", component.service)
    assert services, f"no Service named {component.service!r} in the hand-in"
    deployment = _deployment(handin_objects, component.name)
    checks.require("D2.3 service", [*checks.service_type(services[0], "ClusterIP"),
                                    *checks.service_routes_to(services[0], deployment)])


# --- live tier: the cluster ------------------------------------------------------------------------


@pytest.mark.requirement("D2.1", "3 replicas are running and ready")
def test_three_replicas_ready(cluster, namespace, web):
    deployment = cluster.kube.apps.read_namespaced_deployment(web.name, namespace)
    checks.require("D2.1 replicas", checks.replicas(checks.live(deployment), REPLICAS))
    ready = [p.metadata.name for p in stack.running_pods(cluster, namespace, web.selector) if stack.ready(p)]
    assert len(ready) == REPLICAS, f"expected {REPLICAS} ready pods, found {len(ready)}: {ready}"


@pytest.mark.requirement("D2.2", "every running pod requests 100m CPU / 100Mi and is limited to 200m / 200Mi")
def test_every_pod_has_requests_and_limits(cluster, namespace, web):
    pods = stack.running_pods(cluster, namespace, web.selector)
    assert pods, f"no running pod matches {web.selector}"
    findings = [f for pod in pods for f in checks.resources(checks.live(pod), REQUESTS, LIMITS)]
    checks.require("D2.2 resources", findings)


@pytest.mark.requirement("D2.3", "the Service is a ClusterIP with the 3 pods as ready endpoints")
def test_service_is_clusterip_with_ready_endpoints(cluster, namespace, web):
    service = cluster.kube.core.read_namespaced_service(web.service, namespace)
    checks.require("D2.3 service type", checks.service_type(checks.live(service), "ClusterIP"))
    slices = cluster.kube.discovery.list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={web.service}"
    ).items
    ready = [a for s in slices for e in s.endpoints or [] if e.conditions and e.conditions.ready for a in e.addresses]
    assert len(ready) == REPLICAS, f"expected {REPLICAS} ready endpoints behind {web.service}, found {ready}"


@pytest.mark.requirement("D2.4", "the page answers at kubectl proxy's /api/v1/namespaces/NS/services/NAME/proxy/")
def test_page_through_kubectl_proxy(cluster, namespace, web):
    with access.kubectl_proxy(cluster.kubectl_command(), timeouts.PROXY_START) as base:
        url = base + access.service_proxy_path(namespace, web.service)
        response = access.wait_http("the page through kubectl proxy", lambda: access.http("GET", url),
                                    timeout=timeouts.HTTP_READY)
    assert "CSC 8567" in response.text, response
