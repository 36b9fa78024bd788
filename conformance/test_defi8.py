"""Défi 8 — Ajouter des fonctionnalités en live, sans downtime : a rolling update of the public app to a
new version (a new page, a new image tag) under steady load drops no request, and so does the rollback.

Load: Locust users reading the pages (`Browser`) and using the API (`ApiClient`: reads, lends,
creates cars) through the Ingress, for the whole upgrade. The new version is the site built with
KUBEDEFIS_RELEASE=v2 (page /nouveautes/, a banner), loaded as its own tag; only `public.imageTag`
changes. What makes it work is checked on the rendered chart too: maxUnavailable 0, a readiness
probe, a preStop sleep longer than endpoint propagation, a grace period longer than that.

Who answers is read from the cluster, not from the site: the public Deployment is the target's
component, the pods serving it are the endpoints of its Service, and the version a pod serves is
the image it runs. Through the Ingress, SAMPLES requests of the new page must all get it.
"""

from __future__ import annotations

import re

import pytest

from kubedefis.core import kube, manifests, timeouts
from kubedefis.core.helm import merge_values
from kubedefis.core.shell import Status, run
from kubedefis.core.waits import Check, wait_for
from kubedefis.harness import access, checks, discover, load
from kubedefis.harness import stage as stack
from kubedefis.stack import images

PRESET = "defi8"
NEW_PAGE = "/nouveautes/"
ENDPOINT_PROPAGATION = 2  # seconds for an endpoint change to reach Traefik and kube-proxy here
GUNICORN_GRACEFUL = 20  # gunicorn.conf.py graceful_timeout
LOAD_USERS = 8
LOAD_BOUND = 600  # seconds: the load never outlives this, whatever happens
MIN_REQUESTS = 500  # a "no failed request" claim rests on at least this many requests
NEW_VERSION_TEXT = "Nouveautés de la version v2"  # what the v2 page adds (the image built by `new_tag`)
# Requests of the new page through the Ingress after a rollout. The public app runs 3 pods and
# Traefik balances them round-robin, so 12 requests reach each pod 4 times; were the balancing
# random, a pod still serving the other version (1 in 3) would escape 12 draws with probability
# (2/3)^12 < 1 %.
SAMPLES = 12


@pytest.fixture(scope="module")
def new_tag(suite, cluster):
    """The public app's v2 image, built (cached by content) and loaded; its tag."""
    if suite.target.deployed or cluster.local_spec is None:
        pytest.skip("builds and loads an image: only on the local kind cluster")
    return images.publish_site_version("v2", Status(), cluster.local_spec, components=("public",))


def public(cluster, namespace, suite):
    return stack.resolve(cluster, namespace, suite.target.component("public"))


def public_images(cluster, namespace, suite) -> set[str]:
    pods = stack.running_pods(cluster, namespace, public(cluster, namespace, suite).selector)
    return {c.image for p in pods for c in p.spec.containers}


def serving_images(cluster, namespace, suite) -> dict[str, set[str]]:
    """The pods behind the public Services' endpoints (what the Ingress sends requests to), and their images."""
    found = public(cluster, namespace, suite)
    pods = {
        p.metadata.name: p
        for p in cluster.kube.core.list_namespaced_pod(namespace, label_selector=found.selector).items
    }
    serving: dict[str, set[str]] = {}
    for svc in found.services:
        for name, ready in discover.endpoint_pods(cluster.kube, namespace, svc.metadata.name).items():
            if ready:
                pod = pods.get(name)
                serving[name] = {c.image for c in pod.spec.containers} if pod else {"(not a public pod)"}
    return serving


def wait_rolled_out(cluster, namespace, suite, wanted, what: str) -> None:
    """Until the Deployment is rolled out and every serving pod runs images for which `wanted(images)` holds."""
    name = public(cluster, namespace, suite).name

    def rolled() -> Check[None]:
        ready = kube.deployment_ready(cluster.kube, namespace, name)
        images = public_images(cluster, namespace, suite)
        serving = serving_images(cluster, namespace, suite)
        done = ready.done and wanted(images) and bool(serving) and all(wanted(i) for i in serving.values())
        return Check(done, state=f"{ready.state}; images {sorted(images)}; serving {serving}")

    wait_for(
        f"every public pod on {what}",
        rolled,
        timeout=timeouts.ROLLOUT,
        evidence=lambda: kube.evidence(cluster.kube, namespace, name),
    )


def upgrade_under_load(suite, site, change, *, users=LOAD_USERS):
    """Steady load, then `change()`, then more load: at least 5 requests a user after it, MIN_REQUESTS in all."""
    scenario = load.Scenario.site(site, "Browser", "ApiClient", site=suite.target.site)
    with load.run(scenario, users=users, duration=LOAD_BOUND) as running:
        running.wait_requests(int(timeouts.LOAD_WARMUP * users), timeout=timeouts.LOAD_SPAWN)
        change()
        after = running.snapshot()
        wanted = max((after.total.requests if after else 0) + 5 * users, MIN_REQUESTS)
        running.wait_requests(wanted, timeout=timeouts.LOAD_SPAWN)
    assert running.result is not None
    return running.result


def new_page_everywhere(site, expect_new: bool) -> list[str]:
    """SAMPLES requests of the new page through the Ingress; what each answered that it should not have."""
    wrong = []
    for i in range(SAMPLES):
        page = site.get(NEW_PAGE)
        ok = page.status == 200 and NEW_VERSION_TEXT in page.text if expect_new else page.status == 404
        if not ok:
            wrong.append(f"request {i + 1}: HTTP {page.status} {page.text[:120]!r}")
    return wrong


@pytest.fixture(scope="module")
def before_upgrade(suite, cluster, namespace, values):
    """The images the public pods run before the upgrade: what the rollback must bring back."""
    images = public_images(cluster, namespace, suite)
    if len(images) != 1:
        pytest.fail(f"public pods on several images before the upgrade: expected one, found {sorted(images)}")
    return images


def helm_command(cluster, *args: str) -> str:
    return run([str(cluster.helm_path), "--kubeconfig", cluster.kubeconfig, *args]).stdout


# --- static tier ----------------------------------------------------------------------------------


@pytest.mark.static
@pytest.mark.requirement(
    "D8.1", "rolling update: maxUnavailable 0, readiness probe, preStop > propagation, grace > both"
)
def test_rendered_rolling_update_settings(suite, rendered):
    findings = discover.component_findings(rendered, suite.target, "public", ("Deployment",))
    for dep in discover.workloads(rendered, suite.target, "public", ("Deployment",)):
        strategy = dep["spec"].get("strategy", {})
        rolling = strategy.get("rollingUpdate", {})
        where = manifests.name_of(dep)
        if strategy.get("type", "RollingUpdate") != "RollingUpdate" or str(rolling.get("maxUnavailable")) != "0":
            findings.append(checks.Finding(where, "RollingUpdate with maxUnavailable 0", str(strategy)))
        spec = manifests.pod_spec(dep)
        for container in manifests.containers(dep):
            if not container.get("readinessProbe"):
                findings.append(checks.Finding(where, "a readiness probe", "none"))
            pre_stop = (container.get("lifecycle") or {}).get("preStop") or {}
            command = (pre_stop.get("exec") or {}).get("command") or []
            match = re.search(r"(?:^|[\s/])sleep\s+(\d+)(?:\s|$|;)", " ".join(map(str, command)))
            # an exec'd sleep, or the kubelet's own sleep action (preStop.sleep.seconds, Kubernetes 1.30+)
            sleep = int(match.group(1)) if match else int((pre_stop.get("sleep") or {}).get("seconds") or 0)
            if sleep <= ENDPOINT_PROPAGATION:
                found = str(command or pre_stop or "none")
                findings.append(checks.Finding(where, f"a preStop sleep > {ENDPOINT_PROPAGATION}s", found))
            grace = spec.get("terminationGracePeriodSeconds", 30)
            if grace <= sleep + GUNICORN_GRACEFUL:
                findings.append(
                    checks.Finding(where, f"terminationGracePeriodSeconds > {sleep} + {GUNICORN_GRACEFUL}", str(grace))
                )
    checks.require("D8.1 rolling update", findings)


# --- live tier --------------------------------------------------------------------------------------


@pytest.mark.disruptive
@pytest.mark.requirement("D8.2", "upgrade of public to the new tag under load: no failed request, new page served")
def test_rolling_update_under_load(suite, cluster, namespace, values, before_upgrade, new_tag, site, record_property):
    already = site.get(NEW_PAGE)
    assert already.status == 404, f"the new page exists before the upgrade: expected 404, found {already}"
    upgraded = merge_values(values, {"public": {"imageTag": new_tag}})

    def on_new_tag(images: set[str]) -> bool:
        return bool(images) and all(i.endswith(f":{new_tag}") for i in images)

    def upgrade() -> None:
        cluster.helm().upgrade_install(suite.chart, suite.target.release, namespace, upgraded, timeout=timeouts.HELM)
        wait_rolled_out(cluster, namespace, suite, on_new_tag, new_tag)

    result = upgrade_under_load(suite, site, upgrade)
    for key, value in result.as_dict().items():
        record_property(f"upgrade_{key}", value)
    assert result.total.requests >= MIN_REQUESTS, f"expected {MIN_REQUESTS} requests under load:\n{result.report()}"
    assert result.total.failures == 0, f"requests failed during the rolling update:\n{result.report()}"
    # every pod the Service sends requests to runs the new tag, and the new page answers every time
    serving = serving_images(cluster, namespace, suite)
    stale = {pod: sorted(i) for pod, i in serving.items() if not on_new_tag(i)}
    assert serving and not stale, f"expected every serving public pod on {new_tag}, found {serving}"
    wrong = new_page_everywhere(site, expect_new=True)
    assert not wrong, f"expected the new page on all {SAMPLES} requests, found: {wrong}"
    record_property("new_page_served_by", sorted(serving))


@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D8.3", "the revision history records the update (Deployment and Helm)")
def test_revision_history_recorded(suite, cluster, namespace, values):
    name = public(cluster, namespace, suite).name
    history = cluster.kubectl_run("rollout", "history", f"deployment/{name}", "-n", namespace)
    revisions = [line.split()[0] for line in history.splitlines() if line.strip()[:1].isdigit()]
    assert len(revisions) >= 2, f"expected 2 revisions or more of deployment/{name}, found {revisions}:\n{history}"
    helm_history = cluster.helm().history(suite.target.release, namespace)
    assert len(helm_history) >= 2 and helm_history[-1]["status"] == "deployed", (
        f"expected 2 Helm revisions or more, the last deployed, found {helm_history}"
    )


@pytest.mark.disruptive
@pytest.mark.needs("list", "secrets")
@pytest.mark.requirement("D8.4", "rollback to the previous version under load: no failed request, old version back")
def test_rollback_under_load(suite, cluster, namespace, values, before_upgrade, new_tag, site, record_property):
    history = cluster.helm().history(suite.target.release, namespace)
    previous = next((h["revision"] for h in reversed(history) if h["status"] == "superseded"), None)
    if previous is None:
        pytest.fail(f"expected a superseded revision to roll back to (the upgrade of D8.2), found {history}")

    def rollback() -> None:
        helm_command(
            cluster, "rollback", suite.target.release, str(previous), "-n", namespace,
            "--wait", f"--timeout={int(timeouts.HELM)}s",
        )  # fmt: skip
        wait_rolled_out(cluster, namespace, suite, lambda images: images == before_upgrade, str(sorted(before_upgrade)))

    result = upgrade_under_load(suite, site, rollback)
    for key, value in result.as_dict().items():
        record_property(f"rollback_{key}", value)
    assert result.total.requests >= MIN_REQUESTS, f"expected {MIN_REQUESTS} requests under load:\n{result.report()}"
    assert result.total.failures == 0, f"requests failed during the rollback:\n{result.report()}"
    access.wait_http("the new page gone", lambda: site.get(NEW_PAGE), expect=lambda r: r.status == 404)
    wrong = new_page_everywhere(site, expect_new=False)
    assert not wrong, f"expected the new page gone (404) on all {SAMPLES} requests, found: {wrong}"
    serving = serving_images(cluster, namespace, suite)
    stale = {pod: sorted(i) for pod, i in serving.items() if i != before_upgrade}
    assert serving and not stale, f"expected every serving public pod back on {sorted(before_upgrade)}, found {serving}"
