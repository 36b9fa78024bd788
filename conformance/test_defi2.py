"""Défi 2 — a Deployment of 3 replicas with requests and limits, behind a ClusterIP Service, via kubectl proxy."""

from __future__ import annotations

import pytest

from kubedefis.core import kube, manifests, timeouts
from kubedefis.core.shell import Status
from kubedefis.core.tools import find_tool
from kubedefis.core.waits import Check, wait_for
from kubedefis.harness import access, checks, routes
from kubedefis.harness import stage as stack
from kubedefis.harness.static import kubeconform
from kubedefis.stack import images

LANE = "light"  # a light stage: beside the others (see harness.plugin.lane_of)
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
        images.publish([images.web_nodb("v1")], "v1", Status(), cluster.local_spec)
        stack.apply_handin(cluster, namespace, suite.handin / "defi2")
    return stack.wait_component(cluster, namespace, suite.target.component(COMPONENT))


def _component(suite):
    return suite.target.component(COMPONENT)


def _deployment(objects, component):
    """The hand-in's Deployment of the page: found as the target says (our labels by default), else the only one."""
    deployments = manifests.find(objects, "Deployment")
    found = [d for d in deployments if component.matches(d["metadata"].get("name", ""), manifests.pod_labels(d))]
    if not found and len(deployments) == 1:
        found = deployments
    assert found, (
        f"no Deployment of the page in the hand-in: expected one matching {component}, "
        f"found {[manifests.name_of(d) for d in deployments]}"
    )
    return found[0]


# --- static tier: the hand-in's manifests ---------------------------------------------------------


@pytest.mark.static
@pytest.mark.requirement("D2.1", "the Deployment asks for 3 replicas")
def test_handin_declares_three_replicas(suite, handin_objects):
    checks.require("D2.1 replicas", checks.replicas(_deployment(handin_objects, _component(suite)), REPLICAS))


@pytest.mark.static
@pytest.mark.requirement("D2.2", "every container requests 100m CPU / 100Mi and is limited to 200m / 200Mi")
def test_handin_declares_requests_and_limits(suite, handin_objects):
    deployment = _deployment(handin_objects, _component(suite))
    checks.require("D2.2 resources", checks.resources(deployment, REQUESTS, LIMITS))


@pytest.mark.static
@pytest.mark.requirement("D2.3", "a ClusterIP Service selects the pods and targets their port")
def test_handin_service_routes_to_the_pods(suite, handin_objects):
    deployment = _deployment(handin_objects, _component(suite))
    labels = manifests.pod_labels(deployment)
    services = manifests.find(handin_objects, "Service")
    selecting = [s for s in services if manifests.selects(s["spec"].get("selector"), labels)]
    assert selecting, (
        f"no Service of the hand-in selects the pods of {manifests.name_of(deployment)} ({labels}): "
        f"found {[(manifests.name_of(s), s['spec'].get('selector')) for s in services]}"
    )
    # One of them is a ClusterIP targeting a port the pods expose (the others may be anything).
    findings = [[*checks.service_type(s, "ClusterIP"), *checks.service_routes_to(s, deployment)] for s in selecting]
    if all(findings):
        checks.require("D2.3 service", [f for found in findings for f in found])


# --- live tier: the cluster ------------------------------------------------------------------------


@pytest.mark.requirement("D2.1", "3 replicas are running and ready")
def test_three_replicas_ready(cluster, namespace, web):
    assert web.kind == "Deployment", f"défi 2 asks for a Deployment, found a {web.kind}"
    deployment = cluster.kube.apps.read_namespaced_deployment(web.name, namespace)
    checks.require("D2.1 replicas", checks.replicas(manifests.live(deployment), REPLICAS))
    ready = [p.metadata.name for p in stack.running_pods(cluster, namespace, web.selector) if kube.pod_ready(p)]
    assert len(ready) == REPLICAS, f"expected {REPLICAS} ready pods, found {len(ready)}: {ready}"


@pytest.mark.requirement("D2.2", "every running pod requests 100m CPU / 100Mi and is limited to 200m / 200Mi")
def test_every_pod_has_requests_and_limits(cluster, namespace, web):
    pods = stack.running_pods(cluster, namespace, web.selector)
    assert pods, f"no running pod matches {web.selector}"
    findings = [f for pod in pods for f in checks.resources(manifests.live(pod), REQUESTS, LIMITS)]
    checks.require("D2.2 resources", findings)


@pytest.mark.requirement("D2.3", "the Service is a ClusterIP with the 3 pods as ready endpoints")
def test_service_is_clusterip_with_ready_endpoints(cluster, namespace, web):
    service = web.service(headless=None)
    checks.require("D2.3 service type", checks.service_type(manifests.live(service), "ClusterIP"))
    name = service.metadata.name

    # The EndpointSlice controller follows the pods' readiness a moment later (a busy node: seconds):
    # one read right after the pods turned ready can miss one. A stack that has 2 or 4 stays wrong.
    def three_ready() -> Check[list[str]]:
        ready = [e.ip for e in routes.endpoints(cluster, namespace, name) if e.ready]
        return Check(len(ready) == REPLICAS, ready, state=f"ready endpoints {ready}")

    wait_for(f"{REPLICAS} ready endpoints behind Service {name}", three_ready, timeout=timeouts.HTTP_READY)


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
    checks.require("D2.5 schema", kubeconform.validate(handin_objects, find_tool("kubeconform")))
