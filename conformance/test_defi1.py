"""Défi 1 — Premiers pas : a Deployment of the course's image, reached through kubectl port-forward."""

from __future__ import annotations

import re

import pytest

from kubedefis.core import kube, manifests, timeouts
from kubedefis.core.shell import Status
from kubedefis.core.waits import Check, wait_for
from kubedefis.harness import access
from kubedefis.harness import stage as stack
from kubedefis.stack import images

LANE = "light"  # a light stage: beside the others (see harness.plugin.lane_of)
COMPONENT = "web-nodb"


def _wait(cluster) -> float:
    return stack.EXISTING_STACK_WAIT if cluster.grading_existing else timeouts.POD_READY


@pytest.fixture(scope="module")
def web(suite, cluster, namespace):
    """The Deployment, once one of its pods runs: whether that pod is ready is D1.2's business."""
    if not suite.target.deployed:
        images.publish([images.web_nodb("v1")], "v1", Status(), cluster.local_spec)
        stack.apply_handin(cluster, namespace, suite.handin / "defi1")
    component = suite.target.component(COMPONENT)
    found = wait_for(
        f"a workload matching {component} in {namespace}",
        lambda: Check(True, stack.resolve(cluster, namespace, component)),
        timeout=0 if cluster.grading_existing else timeouts.POD_READY,
        evidence=lambda: kube.evidence(cluster.kube, namespace),
    )
    assert found is not None
    wait_for(
        f"a running pod of {found.kind}/{found.name}",
        lambda: Check(bool(stack.running_pods(cluster, namespace, found.selector))),
        timeout=_wait(cluster),
        evidence=lambda: kube.evidence(cluster.kube, namespace, found.name, found.selector),
    )
    return found


def _container_port(pod, default: int) -> int:
    """The port the page is served on, as the pod spec declares it; the target's web_port if it declares none."""
    ports = [p.container_port for c in pod.spec.containers for p in c.ports or [] if (p.protocol or "TCP") == "TCP"]
    return ports[0] if ports else default


@pytest.mark.static
@pytest.mark.requirement("D1.1", "the hand-in describes a Deployment of the course's web image")
def test_handin_is_a_deployment_of_the_web_image(handin):
    objects = manifests.load([handin / "defi1"])
    deployments = manifests.find(objects, "Deployment")
    assert deployments, f"no Deployment in {handin / 'defi1'}"
    images = [c["image"] for d in deployments for c in manifests.containers(d)]
    assert any("web-nodb" in image or "csc8567" in image for image in images), images


@pytest.mark.requirement("D1.2", "a Pod of the Deployment is running and ready")
def test_pod_is_running(cluster, namespace, web):
    def ready() -> Check[None]:
        pods = stack.running_pods(cluster, namespace, web.selector)
        names = [p.metadata.name for p in pods if kube.pod_ready(p)]
        return Check(bool(names), state=f"running pods {[p.metadata.name for p in pods]}, ready {names}")

    wait_for(
        f"a ready pod of {web.kind}/{web.name} ({web.selector})",
        ready,
        timeout=_wait(cluster),
        evidence=lambda: kube.evidence(cluster.kube, namespace, web.name, web.selector),
    )


@pytest.mark.needs("create", "pods/portforward")
@pytest.mark.requirement("D1.3", "the page answers on localhost through kubectl port-forward")
def test_page_served_through_port_forward(suite, cluster, namespace, web):
    path = "/defi1/check?from=kubedefis"
    pod = stack.a_running_pod(cluster, namespace, web)
    port = _container_port(pod, suite.target.web_port)
    with access.port_forward(
        cluster.kubectl_command(), namespace, f"pod/{pod.metadata.name}", port, timeouts.PROXY_START
    ) as local:
        response = access.wait_http(
            f"the page through port-forward to {pod.metadata.name}:{port}",
            lambda: access.http("GET", f"http://127.0.0.1:{local}{path}"),
            timeout=timeouts.HTTP_READY,
        )
    assert "CSC 8567" in response.text, response
    assert path in response.text, "the page should show the URL that was requested"
    assert re.search(r"\d{2}:\d{2}:\d{2}", response.text), "the page should show the time"
