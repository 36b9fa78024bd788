"""Défi 1 — Premiers pas : a Deployment of the course's image, reached through kubectl port-forward."""

from __future__ import annotations

import re

import pytest

from kubedefis.harness import access, checks, manifests, stack, timeouts

COMPONENT = "web-nodb"


@pytest.fixture(scope="module")
def web(suite, cluster, namespace):
    if not suite.target.deployed:
        stack.ensure_web_nodb_image(cluster)
        stack.apply_handin(cluster, namespace, suite.handin / "defi1")
    return stack.wait_component(cluster, namespace, suite.target.component(COMPONENT), timeouts.POD_READY)


@pytest.mark.static
@pytest.mark.requirement("D1.1", "the hand-in describes a Deployment of the course's web image")
def test_handin_is_a_deployment_of_the_web_image(handin):
    objects = manifests.load([handin / "defi1"])
    deployments = manifests.find(objects, "Deployment")
    assert deployments, f"no Deployment in {handin / 'defi1'}"
    images = [c["image"] for d in deployments for c in checks.containers(d)]
    assert any("web-nodb" in image or "csc8567" in image for image in images), images


@pytest.mark.requirement("D1.2", "a Pod of the Deployment is running and ready")
def test_pod_is_running(cluster, namespace, web):
    pods = stack.running_pods(cluster, namespace, web.selector)
    assert [p.metadata.name for p in pods if stack.ready(p)], f"no ready pod matches {web.selector}"


@pytest.mark.needs("create", "pods/portforward")
@pytest.mark.requirement("D1.3", "the page answers on localhost through kubectl port-forward")
def test_page_served_through_port_forward(cluster, namespace, web):
    path = "/defi1/check?from=kubedefis"
    with access.port_forward(
        cluster.kubectl_command(), namespace, f"{web.kind.lower()}/{web.name}", 5000, timeouts.PROXY_START
    ) as port:
        response = access.wait_http(
            "the page through port-forward",
            lambda: access.http("GET", f"http://127.0.0.1:{port}{path}"),
            timeout=timeouts.HTTP_READY,
        )
    assert "CSC 8567" in response.text
    assert path in response.text, "the page should show the URL that was requested"
    assert re.search(r"\d{2}:\d{2}:\d{2}", response.text), "the page should show the time"
