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
def web(suite, cluster, namespace):
    if not suite.target.deployed:
        stack.ensure_web_nodb_image(cluster)
        stack.apply_handin(cluster, namespace, suite.handin / "defi2")
    return stack.wait_component(cluster, namespace, suite.target.component(COMPONENT))


def _deployment(objects):
    found = [d for d in manifests.find(objects, "Deployment") if checks.pod_labels_match(d, "app=csc8567")]
    assert found, "no Deployment of the site (pods labelled app=csc8567) in the hand-in"
    return found[0]


# --- static tier: the hand-in's manifests ---------------------------------------------------------


@pytest.mark.static
@pytest.mark.requirement("D2.1", "the Deployment asks for 3 replicas")
def test_handin_declares_three_replicas(handin_objects):
    checks.require("D2.1 replicas", checks.replicas(_deployment(handin_objects), REPLICAS))


@pytest.mark.static
@pytest.mark.requirement("D2.2", "every container requests 100m CPU / 100Mi and is limited to 200m / 200Mi")
def test_handin_declares_requests_and_limits(handin_objects):
    deployment = _deployment(handin_objects)
    checks.require("D2.2 resources", checks.resources(deployment, REQUESTS, LIMITS))


@pytest.mark.static
@pytest.mark.requirement("D2.3", "a ClusterIP Service selects the pods and targets their port")
def test_handin_service_routes_to_the_pods(handin_objects):
    deployment = _deployment(handin_objects)
    services = [s for s in manifests.find(handin_objects, "Service") if s["spec"].get("selector")]
    assert services, "no Service with a selector in the hand-in"
    checks.require(
        "D2.3 service",
        [*checks.service_type(services[0], "ClusterIP"), *checks.service_routes_to(services[0], deployment)],
    )


# --- live tier: the cluster ------------------------------------------------------------------------


@pytest.mark.requirement("D2.1", "3 replicas are running and ready")
def test_three_replicas_ready(cluster, namespace, web):
    assert web.kind == "Deployment", f"défi 2 asks for a Deployment, found a {web.kind}"
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
    service = web.service(headless=None)
    checks.require("D2.3 service type", checks.service_type(checks.live(service), "ClusterIP"))
    slices = cluster.kube.discovery.list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={service.metadata.name}"
    ).items
    ready = [a for s in slices for e in s.endpoints or [] if e.conditions and e.conditions.ready for a in e.addresses]
    assert len(ready) == REPLICAS, f"expected {REPLICAS} ready endpoints behind {service.metadata.name}, found {ready}"


@pytest.mark.needs("get", "services/proxy")
@pytest.mark.requirement("D2.4", "the page answers at kubectl proxy's /api/v1/namespaces/NS/services/NAME/proxy/")
def test_page_through_kubectl_proxy(cluster, namespace, web):
    with access.kubectl_proxy(cluster.kubectl_command(), timeouts.PROXY_START) as base:
        url = base + access.service_proxy_path(namespace, web.service(headless=None).metadata.name)
        response = access.wait_http(
            "the page through kubectl proxy", lambda: access.http("GET", url), timeout=timeouts.HTTP_READY
        )
    assert "CSC 8567" in response.text, response


@pytest.mark.static
@pytest.mark.requirement("D2.5", "the hand-in's manifests are valid Kubernetes objects (kubeconform -strict)")
def test_handin_manifests_are_valid(handin_objects):
    from kubedefis.pytest_plugin import find_tool
    from kubedefis.static import kubeconform

    checks.require("D2.5 schema", kubeconform.validate(handin_objects, find_tool("kubeconform")))
