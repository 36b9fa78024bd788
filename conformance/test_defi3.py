"""Défi 3 — Connexions dangereuses : the Django site image and a one-pod PostgreSQL, each behind a ClusterIP."""

from __future__ import annotations

import pytest

from kubedefis.core import kube, manifests, timeouts
from kubedefis.core.shell import Status
from kubedefis.harness import access, checks, site
from kubedefis.harness import stage as stack
from kubedefis.harness.target import with_query
from kubedefis.stack import images

LANE = "light"  # a light stage: beside the others (see harness.plugin.lane_of)
DEFI = "defi3"
ROLES = ("site", "database")
MAX_PAGES = 50  # pages of the public list read at most to find what the API wrote
# The API server's proxy sends each request to a random endpoint: with 3 replicas and one of them
# not listening yet, 20 good answers in a row happen by chance with probability (2/3)^20 < 0.03 %.
READY_IN_A_ROW = 20


@pytest.fixture(scope="module")
def deployed(suite, cluster, namespace):
    if not suite.target.deployed:
        images.publish_stack(Status(), cluster.local_spec, tag=images.HANDIN_TAG)
        # (its migrate Job, which registers the token writes carry, is awaited by apply_handin)
        stack.apply_handin(cluster, namespace, suite.handin / DEFI)
    database = stack.wait_component(cluster, namespace, suite.target.component("database"), timeouts.DATABASE_READY)
    web = stack.wait_component(cluster, namespace, suite.target.component("site"))
    return web, database


@pytest.fixture(scope="module")
def proxied_site(cluster, namespace, deployed, api_token):
    web, _ = deployed
    service = web.service()
    port = service.spec.ports[0]  # named explicitly: the API server needs it when the Service has a named port
    with access.kubectl_proxy(cluster.kubectl_command(), timeouts.PROXY_START) as base:
        url = base + access.service_proxy_path(namespace, service.metadata.name, port.name or port.port, path="")
        yield site.SiteClient(site.proxy_request(url, api_token))  # writes carry the stack's token, if any


@pytest.mark.static
@pytest.mark.requirement("D3.1", "the site and the database are two Deployments, written in different files")
def test_handin_has_site_and_database_deployments_in_separate_files(suite, handin):
    folder = handin / DEFI
    files_by_role: dict[str, set[str]] = {}
    for file in sorted(folder.glob("*.y*ml")):
        for obj in manifests.load([file]):
            if obj["kind"] != "Deployment":
                continue
            # which part it is: as the target file finds it, else by its image (PostgreSQL's or not)
            found = suite.target.component_of(obj["metadata"].get("name", ""), manifests.pod_labels(obj), ROLES)
            images = " ".join(c.get("image", "") for c in manifests.containers(obj))
            role = found or ("database" if "postgres" in images else "site")
            files_by_role.setdefault(role, set()).add(file.name)
    assert set(files_by_role) == set(ROLES), f"expected a Deployment of each of {ROLES}, found by role: {files_by_role}"
    assert not files_by_role["site"] & files_by_role["database"], f"same file for both: {files_by_role}"


def _handin_workload(suite, objects, role):
    """The hand-in's Deployment of a role, found as the target file says, else by its image (PostgreSQL's or not)."""
    found = []
    for obj in manifests.find(objects, "Deployment") + manifests.find(objects, "StatefulSet"):
        key = suite.target.component_of(obj["metadata"].get("name", ""), manifests.pod_labels(obj), ROLES)
        images = " ".join(c.get("image", "") for c in manifests.containers(obj))
        if (key or ("database" if "postgres" in images else "site")) == role:
            found.append(obj)
    assert len(found) == 1, (
        f"expected one {role} workload in the hand-in, found {[manifests.name_of(o) for o in found]}"
    )
    return found[0]


def _handin_service_findings(objects, workload) -> list[checks.Finding]:
    """A ClusterIP Service of the hand-in selects the workload's pods and targets their port."""
    labels = manifests.pod_labels(workload)
    selecting = [s for s in manifests.find(objects, "Service") if manifests.selects(s["spec"].get("selector"), labels)]
    if not selecting:
        return [checks.Finding(manifests.name_of(workload), "a Service selecting its pods", "none")]
    findings = [[*checks.service_type(s, "ClusterIP"), *checks.service_routes_to(s, workload)] for s in selecting]
    return [] if not all(findings) else [f for found in findings for f in found]


@pytest.mark.static
@pytest.mark.requirement("D3.2", "the hand-in's PostgreSQL is a one-pod Deployment behind a ClusterIP Service")
def test_handin_database_is_one_pod_deployment_behind_clusterip(suite, handin):
    objects = manifests.load([handin / DEFI])
    database = _handin_workload(suite, objects, "database")
    assert database["kind"] == "Deployment", f"défi 3 asks for a Deployment, found {manifests.name_of(database)}"
    checks.require("D3.2", [*checks.replicas(database, 1), *_handin_service_findings(objects, database)])


@pytest.mark.static
@pytest.mark.requirement("D3.3", "the hand-in's site is a Deployment behind a ClusterIP Service")
def test_handin_site_is_a_deployment_behind_clusterip(suite, handin):
    objects = manifests.load([handin / DEFI])
    web = _handin_workload(suite, objects, "site")
    assert web["kind"] == "Deployment", f"défi 3 asks for a Deployment of the site, found {manifests.name_of(web)}"
    checks.require("D3.3", _handin_service_findings(objects, web))


@pytest.mark.requirement("D3.2", "PostgreSQL runs as a Deployment with a single pod, behind a ClusterIP Service")
def test_database_is_one_pod_deployment_behind_clusterip(cluster, namespace, deployed):
    _, database = deployed
    assert database.kind == "Deployment", f"défi 3 asks for a Deployment, found {database.kind}/{database.name}"
    dep = cluster.kube.apps.read_namespaced_deployment(database.name, namespace)
    checks.require("D3.2 replicas", checks.replicas(manifests.live(dep), 1))
    pods = stack.running_pods(cluster, namespace, database.selector)
    assert len(pods) == 1, f"expected 1 database pod, found {[p.metadata.name for p in pods]}"
    checks.require("D3.2 service", checks.service_type(manifests.live(database.service()), "ClusterIP"))


@pytest.mark.requirement("D3.3", "the site (both apps in one image) runs as a Deployment behind a ClusterIP Service")
def test_site_is_a_deployment_behind_clusterip(cluster, namespace, deployed):
    web, _ = deployed
    assert web.kind == "Deployment", f"défi 3 asks for a Deployment of the site, found {web.kind}/{web.name}"
    checks.require("D3.3 service", checks.service_type(manifests.live(web.service()), "ClusterIP"))
    pods = stack.running_pods(cluster, namespace, web.selector)
    assert pods and all(kube.pod_ready(p) for p in pods), "the site's pods are not all ready"


@pytest.mark.needs("get", "services/proxy")
@pytest.mark.needs("create", "services/proxy")
@pytest.mark.requirement("D3.4", "through kubectl proxy, what the API writes appears on the public page")
def test_car_created_through_api_is_shown_by_public_page(suite, proxied_site):
    # Our site: a garage and a car created, the car read back through the API, its plate on the car
    # list. A group's: the target's write (api_write, its {unique} word), the word on its public_page.
    contract = suite.target.site
    if not contract.knows("api_write", "public_page"):
        pytest.skip(contract.unknown("api_write", "public_page") + ": a write and the page showing it")
    # Défi 3 has no probes yet: pods count as ready before PostgreSQL accepts connections and the
    # migration Job has run. The API's read of the database (api_probe) says when the site can serve
    # it, and READY_IN_A_ROW answers in a row say every replica listens (the proxy picks one per request).
    access.wait_http(
        f"the site to read its database ({contract.api_probe}) through kubectl proxy",
        lambda: proxied_site.request("GET", contract.api_probe),
        timeout=timeouts.DATABASE_READY,
        in_a_row=READY_IN_A_ROW,
    )
    if contract.ours:
        garage = proxied_site.create_garage()
        car = proxied_site.create_car(garage["id"])
        assert proxied_site.car(car["id"])["plate"] == car["plate"], "the API does not read back what it wrote"
        word, what = car["plate"], f"the car {car['plate']}"
    else:
        body, word = contract.write_body()
        written = proxied_site.request(contract.write_method, contract.write_path, body=body, headers=site.JSON)
        assert 200 <= written.status < 300, (
            f"expected {contract.api_write} (api_write) to succeed through kubectl proxy, "
            f"found {site.shape_of(written)}"
        )
        what = f"the word {word} written by {contract.api_write}"
    page = proxied_site.public_page(contract.public_page)
    assert page.status == 200, f"expected 200 for {contract.public_page} (public_page), found {site.shape_of(page)}"
    # the list may be paginated (`?page=N`, Django's way): what was written is on one of its pages
    seen = [page]
    while word not in seen[-1].text and "?page=" in seen[-1].text and len(seen) < MAX_PAGES:
        seen.append(proxied_site.public_page(with_query(contract.public_page, f"page={len(seen) + 1}")))
        if seen[-1].status != 200:
            break
    assert any(word in p.text for p in seen), (
        f"expected {what} on the public page {contract.public_page}, not found ({len(seen)} page(s) read)"
    )
