"""Défi 5 — Au complet : api and public images, 3 replicas each with requests and limits, a database pod with
the same, and the Ingress sending /api to the api pods and / to the public pods."""

from __future__ import annotations

import pytest

from kubedefis.core import kube, manifests, timeouts
from kubedefis.core.shell import Status
from kubedefis.harness import access, checks, routes
from kubedefis.harness import stage as stack
from kubedefis.harness.plugin import suite_options
from kubedefis.stack import images

DEFI = "defi5"
REPLICAS = 3
REQUESTS = {"cpu": "100m", "memory": "100Mi"}
LIMITS = {"cpu": "200m", "memory": "200Mi"}
PARTS = ("api", "public", "database")
# The paths asked of the Ingress and who must serve them: the site contract's API list and public page
# (ours unless the target names its own), and `/`. Parametrized at collection (pytest_generate_tests),
# so that a test's name says the path it asks.
ROUTE_PARTS = (("api_list", "api"), (None, "public"), ("public_page", "public"))


def route_paths(site) -> list[tuple[str, str]]:
    """(path, component) of each route, from the target's site contract; a path given twice is asked once."""
    found = {(getattr(site, key) if key else "/"): component for key, component in ROUTE_PARTS}
    return list(found.items())


def pytest_generate_tests(metafunc):
    if {"path", "component"} <= set(metafunc.fixturenames):
        metafunc.parametrize(("path", "component"), route_paths(suite_options(metafunc.config).target.site))


@pytest.fixture(scope="module")
def stack_parts(suite, cluster, namespace):
    if not suite.target.deployed:
        images.publish_stack(Status(), cluster.local_spec, tag=images.HANDIN_TAG)
        stack.apply_handin(cluster, namespace, suite.handin / DEFI)
    database = stack.wait_component(cluster, namespace, suite.target.component("database"), timeouts.DATABASE_READY)
    api = stack.wait_component(cluster, namespace, suite.target.component("api"))
    public = stack.wait_component(cluster, namespace, suite.target.component("public"))
    return {"api": api, "public": public, "database": database}


@pytest.fixture(scope="module")
def endpoint(request, cluster, stack_parts):
    """The site through the Ingress: the target's host, else the host of the Ingress rule serving `/`."""
    return cluster.ingress(request.getfixturevalue("site_host"))


def _images(cluster, namespace, resolved):
    pods = stack.running_pods(cluster, namespace, resolved.selector)
    return {c.image for p in pods for c in p.spec.containers}


# --- static tier: the hand-in's manifests ---------------------------------------------------------


@pytest.fixture(scope="module")
def handin_objects(handin):
    return manifests.load([handin / DEFI])


def _handin_parts(suite, objects) -> dict[str, list[dict]]:
    """The hand-in's workloads of api, public and database, found as the target file says."""
    parts: dict[str, list[dict]] = {}
    for obj in manifests.find(objects, "Deployment") + manifests.find(objects, "StatefulSet"):
        key = suite.target.component_of(obj["metadata"].get("name", ""), manifests.pod_labels(obj), PARTS)
        if key:
            parts.setdefault(key, []).append(obj)
    return parts


def _handin_part(suite, objects, component) -> dict:
    found = _handin_parts(suite, objects).get(component, [])
    assert len(found) == 1, (
        f"expected one {component} workload in the hand-in, found {[manifests.name_of(o) for o in found]}"
    )
    return found[0]


def _selecting_services(objects, workload) -> list[dict]:
    labels = manifests.pod_labels(workload)
    return [s for s in manifests.find(objects, "Service") if manifests.selects(s["spec"].get("selector"), labels)]


@pytest.mark.static
@pytest.mark.requirement("D5.1", "api and public run from two different images")
def test_handin_api_and_public_use_two_images(suite, handin_objects):
    images = {
        c: {x.get("image") for x in manifests.containers(_handin_part(suite, handin_objects, c))}
        for c in ("api", "public")
    }
    assert not images["api"] & images["public"], f"api and public share an image: {images}"


@pytest.mark.static
@pytest.mark.parametrize("component", ["api", "public"])
@pytest.mark.requirement("D5.2", "api and public: 3 replicas, 100m/100Mi requested, 200m/200Mi at most, a ClusterIP")
def test_handin_three_replicas_with_resources(suite, handin_objects, component):
    workload = _handin_part(suite, handin_objects, component)
    services = _selecting_services(handin_objects, workload)
    findings = [*checks.replicas(workload, REPLICAS), *checks.resources(workload, REQUESTS, LIMITS)]
    if not any(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in services):
        found = [(manifests.name_of(s), s["spec"].get("type", "ClusterIP")) for s in services]
        findings.append(
            checks.Finding(manifests.name_of(workload), "a ClusterIP Service selecting its pods", str(found))
        )
    checks.require(f"D5.2 {component}", findings)


@pytest.mark.static
@pytest.mark.requirement("D5.3", "the database: one pod with the same requests and limits, behind a Service")
def test_handin_database_pod_with_same_resources(suite, handin_objects):
    database = _handin_part(suite, handin_objects, "database")
    findings = [*checks.replicas(database, 1), *checks.resources(database, REQUESTS, LIMITS)]
    if not _selecting_services(handin_objects, database):
        findings.append(checks.Finding(manifests.name_of(database), "a Service selecting its pod", "none"))
    checks.require("D5.3", findings)


@pytest.mark.static
@pytest.mark.requirement("D5.4", "the Ingress sends /api to the api pods and / to the public pods")
def test_handin_ingress_routes_by_path(suite, handin_objects, path, component):
    ingresses = manifests.find(handin_objects, "Ingress")
    hosts = [r.get("host") for i in ingresses for r in (i.get("spec") or {}).get("rules") or [] if r.get("host")]
    host = suite.target.ingress_host or next(iter(hosts), "")
    route = routes.match(ingresses, host, path)
    assert route is not None and route.service, f"no Ingress rule of the hand-in serves {host}{path}"
    services = {s["metadata"]["name"]: s for s in manifests.find(handin_objects, "Service")}
    assert route.service in services, f"{route}: no such Service in the hand-in ({sorted(services)})"
    selector = services[route.service]["spec"].get("selector")
    parts = _handin_parts(suite, handin_objects)
    reached = sorted(
        c for c, objs in parts.items() for o in objs if manifests.selects(selector, manifests.pod_labels(o))
    )
    assert reached == [component], (
        f"{path}: {route}, whose selector {selector} reaches {reached}, expected [{component!r}]"
    )


# --- live tier: the cluster ------------------------------------------------------------------------


@pytest.mark.requirement("D5.1", "api and public run from two different images")
def test_api_and_public_use_two_images(cluster, namespace, stack_parts):
    api, public = _images(cluster, namespace, stack_parts["api"]), _images(cluster, namespace, stack_parts["public"])
    assert api and public, "no running api or public pod"
    assert not api & public, f"api and public share an image: {api & public}"


@pytest.mark.parametrize("component", ["api", "public"])
@pytest.mark.requirement("D5.2", "api and public: 3 ready replicas, 100m/100Mi requested, 200m/200Mi at most")
def test_three_ready_replicas_with_resources(cluster, namespace, stack_parts, component):
    resolved = stack_parts[component]
    pods = [p for p in stack.running_pods(cluster, namespace, resolved.selector) if kube.pod_ready(p)]
    assert len(pods) == REPLICAS, f"{component}: expected {REPLICAS} ready pods, found {len(pods)}"
    checks.require(
        f"D5.2 {component} resources", [f for p in pods for f in checks.resources(manifests.live(p), REQUESTS, LIMITS)]
    )
    checks.require(f"D5.2 {component} service", checks.service_type(manifests.live(resolved.service()), "ClusterIP"))


@pytest.mark.requirement("D5.3", "the database: one pod with the same requests and limits, behind a Service")
def test_database_pod_with_same_resources(cluster, namespace, stack_parts):
    database = stack_parts["database"]
    pods = stack.running_pods(cluster, namespace, database.selector)
    assert len(pods) == 1, f"expected 1 database pod, found {[p.metadata.name for p in pods]}"
    checks.require("D5.3 resources", checks.resources(manifests.live(pods[0]), REQUESTS, LIMITS))
    assert database.services, "no Service selects the database pod"


# Requests per path, each of which must reach the right pods. Traefik and ingress-nginx balance
# round-robin over a Service's endpoints, so 30 requests in a row reach each of up to 30 endpoints
# (3 here): a route wrong on any one endpoint fails. Were the balancing random, a route wrong on
# 1 endpoint of 4 would escape 30 samples with probability 0.75**30 < 2e-4, one wrong half of the
# time with 2**-30.
SAMPLES = 30
# What the course's site answers there, whoever wrote it: its API speaks JSON, its pages HTML.
CONTENT = {"api": "application/json", "public": "text/html"}
ACCEPT = {"api": {"Accept": "application/json"}, "public": {"Accept": "text/html"}}


@pytest.mark.requirement("D5.4", "the Ingress sends /api to the api pods and / to the public pods")
def test_ingress_routes_by_path(cluster, namespace, endpoint, stack_parts, path, component):
    # Who serves the path, from the objects: the Ingress rule for the host and path, its backend
    # Service, and the pods behind it (EndpointSlices, by IP): all of them must be the component's.
    route = routes.match(routes.live_ingresses(cluster, namespace), endpoint.host, path)
    assert route is not None and route.service, f"no Ingress rule in {namespace} serves {endpoint.host}{path}"
    pods = {
        p.status.pod_ip: p.metadata.name
        for p in stack.running_pods(cluster, namespace, stack_parts[component].selector)
    }
    behind = [e for e in routes.endpoints(cluster, namespace, route.service) if e.ready]
    assert behind, f"{path}: {route}, which has no ready endpoint"
    strangers = [f"{e.ip} ({e.pod or 'no pod'})" for e in behind if e.ip not in pods]
    assert not strangers, (
        f"{path}: {route}, whose endpoints are not all {component} pods: expected {sorted(pods.values())}, "
        f"found also {strangers}"
    )
    # And through the controller: the route answers, then SAMPLES requests in a row all do, each
    # as the component would (JSON from the API, HTML from the pages).
    access.wait_http(f"{path} through the Ingress", lambda: endpoint.get(path), timeout=timeouts.HTTP_READY)
    answers = [endpoint.get(path, headers=ACCEPT[component]) for _ in range(SAMPLES)]
    wrong = [r for r in answers if r.status != 200 or CONTENT[component] not in r.headers.get("content-type", "")]
    assert not wrong, (
        f"{path}: expected {SAMPLES} answers 200 {CONTENT[component]} (the {component} pods), "
        f"found {len(wrong)} other: {wrong[:3]}"
    )
