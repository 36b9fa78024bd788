"""Défi 4 — Internet ! : the site answers through an Ingress, on its host name, over HTTP and HTTPS."""

from __future__ import annotations

import pytest

from kubedefis.core import manifests, timeouts
from kubedefis.core.shell import Status
from kubedefis.harness import access, routes
from kubedefis.harness import stage as stack
from kubedefis.harness.target import Component
from kubedefis.stack import images

LANE = "light"  # a light stage: beside the others (see harness.plugin.lane_of)
DEFI = "defi4"


@pytest.fixture(scope="module")
def ingress_host(suite, cluster, namespace):
    if not suite.target.deployed:
        images.publish_stack(Status(), cluster.local_spec, tag=images.HANDIN_TAG)
        stack.apply_handin(cluster, namespace, suite.handin / DEFI)
        # our hand-in's site reads its database on `/`: both up before the checks
        stack.wait_component(cluster, namespace, suite.target.component("database"), timeouts.DATABASE_READY)
    if suite.target.ingress_host:
        return suite.target.ingress_host
    ingresses = cluster.kube.networking.list_namespaced_ingress(namespace).items
    hosts = [rule.host for ing in ingresses for rule in ing.spec.rules or [] if rule.host]
    # The course's address is https://django.<group>.csc8567.luxbulb.org/
    site_hosts = [h for h in hosts if h.startswith("django.")]
    if not site_hosts:
        pytest.fail(f"no Ingress rule for a django.<group>.<domain> host in {namespace} (hosts: {hosts})")
    return site_hosts[0]


@pytest.fixture(scope="module")
def site_route(cluster, namespace, ingress_host):
    """Who serves `/` on the host is the site, whatever the target calls it: its workloads rolled out."""
    route = routes.match(routes.live_ingresses(cluster, namespace), ingress_host, "/")
    if route is not None and route.service:
        for workload in routes.workloads_behind(cluster, namespace, route.service):
            stack.wait_component(cluster, namespace, Component(name=workload.split("/", 1)[1]))
    return route


@pytest.mark.static
@pytest.mark.requirement("D4.1", "an Ingress routes the site's host name to the site's Service")
def test_handin_ingress_routes_host_to_site_service(handin):
    objects = manifests.load([handin / DEFI])
    ingresses = manifests.find(objects, "Ingress")
    assert ingresses, "no Ingress in the hand-in"
    rules = [r for i in ingresses for r in (i.get("spec") or {}).get("rules") or []]
    hosts = [r["host"] for r in rules if (r.get("host") or "").startswith("django.")]
    assert hosts, f"expected a rule for django.<group>.<domain>, found hosts {[r.get('host') for r in rules]}"
    # `/` on that host reaches a Service of the hand-in that selects the pods of one of its Deployments
    route = routes.match(ingresses, hosts[0], "/")
    assert route is not None and route.service, f"no rule of the hand-in serves {hosts[0]}/"
    services = {s["metadata"]["name"]: s for s in manifests.find(objects, "Service")}
    backends = {
        ((p.get("backend") or {}).get("service") or {}).get("name")
        for r in rules
        for p in (r.get("http") or {}).get("paths") or []
    }
    assert backends <= set(services), (
        f"Ingress backends {sorted(map(str, backends))} not among the Services {sorted(services)}"
    )
    assert route.service in services, f"{route}: expected a Service of the hand-in, found only {sorted(services)}"
    selector = services[route.service]["spec"].get("selector")
    behind = [d for d in manifests.find(objects, "Deployment") if manifests.selects(selector, manifests.pod_labels(d))]
    assert behind, f"{route}: Service {route.service} selects {selector}, which no Deployment of the hand-in has"


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.requirement("D4.2", "the site answers through the Ingress controller with its host name")
def test_site_answers_through_ingress(cluster, ingress_host, site_route, scheme):
    endpoint = cluster.ingress(ingress_host)
    response = access.wait_http(
        f"{endpoint.url('/', scheme)} through the Ingress",
        lambda: endpoint.get("/", scheme=scheme),
        timeout=timeouts.HTTP_READY,
    )
    assert "text/html" in response.headers.get("content-type", ""), f"{site_route}: {response}"


@pytest.mark.requirement("D4.3", "the Ingress only serves the site's host: another host name is not routed to it")
def test_other_host_is_not_routed(cluster, ingress_host):
    endpoint = cluster.ingress("not-the-site." + ingress_host.split(".", 1)[-1])
    response = endpoint.get("/")
    assert response.status == 404, f"a foreign Host header reached something: {response}"
