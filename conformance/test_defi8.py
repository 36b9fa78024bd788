"""Défi 8 — Ajouter des fonctionnalités en live, sans downtime : a rolling update of the public app to a
new version (a new page, a new image tag) under steady load drops no request, and so does the rollback.

Load: Locust users reading the pages (`Browser`) and using the API (`ApiClient`: reads, lends,
creates cars) through the Ingress, for the whole upgrade. The new version is the site built with
KUBEDEFIS_RELEASE=v2 (page /nouveautes/, a banner), loaded as its own tag; only `public.imageTag`
changes. What makes it work is checked on the rendered chart too: maxUnavailable 0, a readiness
probe, a preStop sleep longer than endpoint propagation, a grace period longer than that.
"""

from __future__ import annotations

import pytest

from kubedefis import kube, release
from kubedefis.harness import access, checks, helm, load, stack, timeouts
from kubedefis.harness.helm import merge_values
from kubedefis.release import install_ready_stack as install
from kubedefis.shell import Status, run
from kubedefis.waits import Check, wait_for

PRESET = "defi8"
NEW_PAGE = "/nouveautes/"
ENDPOINT_PROPAGATION = 2  # seconds for an endpoint change to reach Traefik and kube-proxy here
GUNICORN_GRACEFUL = 20  # gunicorn.conf.py graceful_timeout
LOAD_USERS = 8
LOAD_BOUND = 600  # seconds: the load never outlives this, whatever happens


@pytest.fixture(scope="module")
def rendered(suite):
    from kubedefis.pytest_plugin import find_tool

    chart = suite.chart_under_test()
    values = helm.load_values(stack.chart_values(suite, PRESET))
    return helm.Helm(find_tool("helm")).template(chart, suite.target.release, values)


@pytest.fixture(scope="module")
def values(suite, cluster, namespace):
    return install(cluster, suite, namespace, PRESET)


@pytest.fixture(scope="module")
def new_tag(suite, cluster):
    """The public app's v2 image, built (cached by content) and loaded; its tag."""
    if suite.target.deployed or cluster.local_spec is None:
        pytest.skip("builds and loads an image: only on the local kind cluster")
    tag = release.build_release("v2", Status(), components=("public",))
    cluster.load_images(release.release_refs(tag, ("public",)))
    return tag


@pytest.fixture(scope="module")
def site(suite, cluster, values):
    return cluster.ingress(ingress_host(suite, values))


def ingress_host(suite, values) -> str:
    return suite.target.ingress_host or values.get("ingress", {}).get("host") or "django.kubedefis.localhost"


def public(cluster, namespace, suite):
    return stack.resolve(cluster, namespace, suite.target.component("public"))


def public_images(cluster, namespace, suite) -> set[str]:
    pods = stack.running_pods(cluster, namespace, public(cluster, namespace, suite).selector)
    return {c.image for p in pods for c in p.spec.containers}


def wait_rolled_out(cluster, namespace, suite, image_tag: str) -> None:
    name = public(cluster, namespace, suite).name

    def rolled() -> Check[None]:
        ready = kube.deployment_ready(cluster.kube, namespace, name)
        images = public_images(cluster, namespace, suite)
        done = ready.done and len(images) == 1 and next(iter(images)).endswith(f":{image_tag}")
        return Check(done, state=f"{ready.state}; images {sorted(images)}")

    wait_for(
        f"every public pod on {image_tag}",
        rolled,
        timeout=timeouts.ROLLOUT,
        evidence=lambda: kube.evidence(cluster.kube, namespace, name),
    )


def upgrade_under_load(site, change, *, users=LOAD_USERS):
    """Steady load, then `change()`, then a little more load; the load's result."""
    scenario = load.Scenario.site(site, "Browser", "ApiClient")
    with load.run(scenario, users=users, duration=LOAD_BOUND) as running:
        running.wait_requests(int(timeouts.LOAD_WARMUP * users), timeout=timeouts.LOAD_SPAWN)
        change()
        after = running.snapshot()
        running.wait_requests((after.total.requests if after else 0) + 5 * users, timeout=timeouts.LOAD_SPAWN)
    assert running.result is not None
    return running.result


def helm_command(cluster, *args: str) -> str:
    return run([str(cluster.helm_path), "--kubeconfig", cluster.kubeconfig, *args]).stdout


# --- static tier ----------------------------------------------------------------------------------


@pytest.mark.static
@pytest.mark.requirement(
    "D8.1", "rolling update: maxUnavailable 0, readiness probe, preStop > propagation, grace > both"
)
def test_rendered_rolling_update_settings(rendered):
    deployments = [o for o in rendered if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-public")]
    assert deployments, "no public Deployment rendered"
    findings = []
    for dep in deployments:
        strategy = dep["spec"].get("strategy", {})
        rolling = strategy.get("rollingUpdate", {})
        where = checks.name_of(dep)
        if strategy.get("type", "RollingUpdate") != "RollingUpdate" or str(rolling.get("maxUnavailable")) != "0":
            findings.append(checks.Finding(where, "RollingUpdate with maxUnavailable 0", str(strategy)))
        spec = checks.pod_spec(dep)
        for container in checks.containers(dep):
            if not container.get("readinessProbe"):
                findings.append(checks.Finding(where, "a readiness probe", "none"))
            command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
            sleep = int(command[-1]) if command[:1] == ["sleep"] and command[-1].isdigit() else 0
            if sleep <= ENDPOINT_PROPAGATION:
                findings.append(checks.Finding(where, f"a preStop sleep > {ENDPOINT_PROPAGATION}s", str(command)))
            grace = spec.get("terminationGracePeriodSeconds", 30)
            if grace <= sleep + GUNICORN_GRACEFUL:
                findings.append(
                    checks.Finding(where, f"terminationGracePeriodSeconds > {sleep} + {GUNICORN_GRACEFUL}", str(grace))
                )
    checks.require("D8.1 rolling update", findings)


# --- live tier --------------------------------------------------------------------------------------


@pytest.mark.disruptive
@pytest.mark.requirement("D8.2", "upgrade of public to the new tag under load: no failed request, new page served")
def test_rolling_update_under_load(suite, cluster, namespace, values, new_tag, site, record_property):
    if not suite.allow_disruption:
        pytest.skip("loads the site: needs --allow-disruption")
    old_images = public_images(cluster, namespace, suite)
    assert len(old_images) == 1, f"public pods on several images before the upgrade: {old_images}"
    assert site.get(NEW_PAGE).status == 404, "the new page exists before the upgrade"
    upgraded = merge_values(values, {"public": {"imageTag": new_tag}})

    def upgrade() -> None:
        cluster.helm().upgrade_install(suite.chart, suite.target.release, namespace, upgraded, timeout=timeouts.HELM)
        wait_rolled_out(cluster, namespace, suite, new_tag)

    result = upgrade_under_load(site, upgrade)
    for key, value in result.as_dict().items():
        record_property(f"upgrade_{key}", value)
    assert result.total.requests > 0, result.report()
    assert result.total.failures == 0, f"requests failed during the rolling update:\n{result.report()}"
    # every pod runs the new tag and the new version answers, on every pod
    images = public_images(cluster, namespace, suite)
    assert images and all(i.endswith(f":{new_tag}") for i in images), images
    pods = set()
    for _ in range(12):
        page = site.get(NEW_PAGE)
        assert page.status == 200 and page.headers.get("x-kubedefis-release") == "v2", page
        assert "Nouveautés de la version v2" in page.text
        pods.add(page.headers.get("x-kubedefis-pod"))
    record_property("new_page_served_by", sorted(pods))


@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D8.3", "the revision history records the update (Deployment and Helm)")
def test_revision_history_recorded(suite, cluster, namespace, values):
    name = public(cluster, namespace, suite).name
    history = cluster.kubectl_run("rollout", "history", f"deployment/{name}", "-n", namespace)
    revisions = [line.split()[0] for line in history.splitlines() if line.strip()[:1].isdigit()]
    assert len(revisions) >= 2, f"one revision only:\n{history}"
    helm_history = cluster.helm().history(suite.target.release, namespace)
    assert len(helm_history) >= 2 and helm_history[-1]["status"] == "deployed", helm_history


@pytest.mark.disruptive
@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D8.4", "rollback to the previous version under load: no failed request, old version back")
def test_rollback_under_load(suite, cluster, namespace, values, new_tag, site, record_property):
    if not suite.allow_disruption:
        pytest.skip("loads the site: needs --allow-disruption")
    history = cluster.helm().history(suite.target.release, namespace)
    previous = next(h["revision"] for h in reversed(history) if h["status"] == "superseded")
    old_tag = values.get("public", {}).get("imageTag") or values["image"]["tag"]

    def rollback() -> None:
        helm_command(
            cluster, "rollback", suite.target.release, str(previous), "-n", namespace,
            "--wait", f"--timeout={int(timeouts.HELM)}s",
        )  # fmt: skip
        wait_rolled_out(cluster, namespace, suite, old_tag)

    result = upgrade_under_load(site, rollback)
    for key, value in result.as_dict().items():
        record_property(f"rollback_{key}", value)
    assert result.total.failures == 0, f"requests failed during the rollback:\n{result.report()}"
    page = access.wait_http("the new page gone", lambda: site.get(NEW_PAGE), expect=lambda r: r.status == 404)
    assert page.headers.get("x-kubedefis-release") == "v1", page
