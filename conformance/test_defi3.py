"""Défi 3 — Connexions dangereuses : the Django site image and a one-pod PostgreSQL, each behind a ClusterIP."""

from __future__ import annotations

import pytest

from kubedefis.harness import access, checks, manifests, site, stack, timeouts

DEFI = "defi3"


@pytest.fixture(scope="module")
def deployed(suite, cluster, namespace):
    if not suite.target.deployed:
        stack.ensure_handin_images(cluster)
        stack.apply_handin(cluster, namespace, suite.handin / DEFI)
    database = stack.wait_component(cluster, namespace, suite.target.component("database"), timeouts.DATABASE_READY)
    web = stack.wait_component(cluster, namespace, suite.target.component("site"))
    return web, database


@pytest.fixture(scope="module")
def proxied_site(cluster, namespace, deployed):
    web, _ = deployed
    with access.kubectl_proxy(cluster.kubectl_command(), timeouts.PROXY_START) as base:
        url = base + access.service_proxy_path(namespace, web.service().metadata.name, path="")
        yield site.SiteClient(site.proxy_request(url))


@pytest.mark.static
@pytest.mark.requirement("D3.1", "the site and the database are two Deployments, written in different files")
def test_handin_has_site_and_database_deployments_in_separate_files(handin):
    folder = handin / DEFI
    files_by_role = {}
    for file in sorted(folder.glob("*.y*ml")):
        for obj in manifests.load([file]):
            if obj["kind"] != "Deployment":
                continue
            images = " ".join(c["image"] for c in checks.containers(obj))
            role = "database" if "postgres" in images else "site"
            files_by_role.setdefault(role, set()).add(file.name)
    assert set(files_by_role) == {"site", "database"}, f"Deployments found by role: {files_by_role}"
    assert not files_by_role["site"] & files_by_role["database"], f"same file for both: {files_by_role}"


@pytest.mark.requirement("D3.2", "PostgreSQL runs as a Deployment with a single pod, behind a ClusterIP Service")
def test_database_is_one_pod_deployment_behind_clusterip(cluster, namespace, deployed):
    _, database = deployed
    assert database.kind == "Deployment", f"défi 3 asks for a Deployment, found {database.kind}/{database.name}"
    dep = cluster.kube.apps.read_namespaced_deployment(database.name, namespace)
    checks.require("D3.2 replicas", checks.replicas(checks.live(dep), 1))
    pods = stack.running_pods(cluster, namespace, database.selector)
    assert len(pods) == 1, f"expected 1 database pod, found {[p.metadata.name for p in pods]}"
    checks.require("D3.2 service", checks.service_type(checks.live(database.service()), "ClusterIP"))


@pytest.mark.requirement("D3.3", "the site (both apps in one image) runs as a Deployment behind a ClusterIP Service")
def test_site_is_a_deployment_behind_clusterip(cluster, namespace, deployed):
    web, _ = deployed
    assert web.kind == "Deployment"
    checks.require("D3.3 service", checks.service_type(checks.live(web.service()), "ClusterIP"))
    pods = stack.running_pods(cluster, namespace, web.selector)
    assert pods and all(stack.ready(p) for p in pods), "the site's pods are not all ready"


@pytest.mark.needs("get", "services/proxy")
@pytest.mark.needs("create", "services/proxy")
@pytest.mark.requirement("D3.4", "through kubectl proxy, a car created with the API appears on the public page")
def test_car_created_through_api_is_shown_by_public_page(proxied_site):
    # Défi 3 has no probes yet: pods count as ready before PostgreSQL accepts connections and the
    # migration Job has run. The site's own /readyz says when it can serve the database.
    access.wait_http(
        "the site to reach its database (/readyz) through kubectl proxy",
        lambda: proxied_site.request("GET", "/readyz"),
        timeout=timeouts.DATABASE_READY,
    )
    garage = proxied_site.create_garage()
    car = proxied_site.create_car(garage["id"])
    assert proxied_site.car(car["id"])["plate"] == car["plate"], "the API does not read back what it wrote"
    page = proxied_site.public_page("/voitures/")
    assert page.status == 200, page
    assert car["plate"] in page.text, f"the public car list does not show {car['plate']}"
