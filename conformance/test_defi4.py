"""Défi 4 — Internet ! : the site answers through an Ingress, on its host name, over HTTP and HTTPS."""

from __future__ import annotations

import pytest

from kubedefis.harness import access, manifests, stack, timeouts

DEFI = "defi4"


@pytest.fixture(scope="module")
def ingress_host(suite, cluster, namespace):
    if not suite.target.deployed:
        stack.ensure_handin_images(cluster)
        stack.apply_handin(cluster, namespace, suite.handin / DEFI)
    stack.wait_component(cluster, namespace, suite.target.component("database"), timeouts.DATABASE_READY)
    stack.wait_component(cluster, namespace, suite.target.component("site"))
    if suite.target.ingress_host:
        return suite.target.ingress_host
    ingresses = cluster.kube.networking.list_namespaced_ingress(namespace).items
    hosts = [rule.host for ing in ingresses for rule in ing.spec.rules or [] if rule.host]
    # The course's address is https://django.<group>.csc8567.luxbulb.org/
    site_hosts = [h for h in hosts if h.startswith("django.")]
    if not site_hosts:
        pytest.fail(f"no Ingress rule for a django.<group>.<domain> host in {namespace} (hosts: {hosts})")
    return site_hosts[0]


@pytest.mark.static
@pytest.mark.requirement("D4.1", "an Ingress routes the site's host name to the site's Service")
def test_handin_ingress_routes_host_to_site_service(handin):
    objects = manifests.load([handin / DEFI])
    ingresses = manifests.find(objects, "Ingress")
    assert ingresses, "no Ingress in the hand-in"
    services = {s["metadata"]["name"] for s in manifests.find(objects, "Service")}
    rules = [r for i in ingresses for r in i["spec"].get("rules", [])]
    assert any(r.get("host", "").startswith("django.") for r in rules), f"hosts: {[r.get('host') for r in rules]}"
    backends = {p["backend"]["service"]["name"] for r in rules for p in r.get("http", {}).get("paths", [])}
    assert backends and backends <= services, f"Ingress backends {backends} not among the Services {services}"


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.requirement("D4.2", "the site answers through the Ingress controller with its host name")
def test_site_answers_through_ingress(cluster, ingress_host, scheme):
    endpoint = cluster.ingress(ingress_host)
    response = access.wait_http(
        f"{endpoint.url('/', scheme)} through the Ingress",
        lambda: endpoint.get("/", scheme=scheme),
        timeout=timeouts.HTTP_READY,
    )
    assert "text/html" in response.headers.get("content-type", ""), response


@pytest.mark.requirement("D4.3", "the Ingress only serves the site's host: another host name is not routed to it")
def test_other_host_is_not_routed(cluster, ingress_host):
    endpoint = cluster.ingress("not-the-site." + ingress_host.split(".", 1)[-1])
    response = endpoint.get("/")
    assert response.status == 404, f"a foreign Host header reached something: {response}"
